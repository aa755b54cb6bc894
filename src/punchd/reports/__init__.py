"""Reports for HR and payroll: the detail and monthly reports, and their CSV/XLSX files."""
