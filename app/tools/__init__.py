"""What the command line runs beside the app: the demo study, a simulated run, the sample report."""
