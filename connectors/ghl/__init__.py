"""GoHighLevel (HighLevel / LeadConnector): marketplace webhooks in; CRM writes next."""
