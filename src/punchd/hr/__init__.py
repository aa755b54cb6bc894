"""HR master data: departments, employees, cards, separations and roster files."""
