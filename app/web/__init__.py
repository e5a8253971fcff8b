"""Server-rendered pages for panelists (and, later, coordinators)."""
