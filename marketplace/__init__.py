"""The app-store face: manifests, OAuth install flows, the token vault, SSO for embedded pages.

Nothing here yet: GoHighLevel, HubSpot and Salesforce installs arrive with the marketplace work.
"""
