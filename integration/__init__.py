"""The host: Flask app factory, configuration, database, job queue, routes and CLI."""
