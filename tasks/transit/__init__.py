"""Transit code shared by LAMP and the historic backfills: GTFS feeds and service dates."""
