"""Anviz TC_B card clocks over serial (RS-232 / RS-485) and TCP.

``framer`` (frames and CRC), ``codec`` (the DATA of answers), ``transport`` (serial, TCP and
the per-port bus lock), ``client`` (transactions and the record download), ``driver`` (the
``anviz`` driver) and ``simulator`` (clocks on a pty or TCP, with fault modes).
"""
