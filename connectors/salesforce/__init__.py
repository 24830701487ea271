"""Salesforce: Outbound Messages in (call Tasks), the org's REST API through simple-salesforce."""
