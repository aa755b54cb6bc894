"""HR's attendance rules: the rules file, loading it into the tables, and everyday edits."""
