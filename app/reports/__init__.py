"""What leaves the platform: pseudonymised data exports (CSV, XLSX, JSON) and the report."""
