"""The app-store face: what each marketplace app asks for (apps.py), the app definitions
`ringback manifests` writes (manifests/), the token vault and the SSO proofs of embedded pages.
It imports connectors/ and workflows/ only, never the host (integration/)."""
