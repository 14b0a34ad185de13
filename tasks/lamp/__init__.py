"""Transit performance (LAMP): MBTA subway events to per-stop CSVs for the dashboard."""
