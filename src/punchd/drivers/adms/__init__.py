"""ZKTeco push clocks (ADMS / iclock): the protocol (``protocol``), the device
configuration (``driver``) and a push-device simulator (``simulator``). docs/adms.md."""
