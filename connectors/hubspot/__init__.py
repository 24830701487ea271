"""HubSpot: webhook batches in (calls fetched through hubspot-api-client); CRM writes next."""
