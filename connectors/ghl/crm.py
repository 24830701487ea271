"""The CRM port for GoHighLevel: contacts, opportunities in a mapped pipeline, notes, tasks.

GoHighLevel pipelines cannot be created through the API, so each sub-account's pipeline and
stages are found by name (workflows.stages) or mapped explicitly.
"""
from __future__ import annotations

from datetime import datetime

from workflows.stages import best_pipeline

from .client import GhlClient


class GhlCrm:
    provider = "ghl"

    def __init__(self, client: GhlClient, stage_overrides: dict | None = None):
        self.client = client
        self.location_id = client.location_id
        self.stage_overrides = stage_overrides or {}
        self._pipeline: tuple[str, dict[str, str]] | None = None

    def pipeline(self) -> tuple[str, dict[str, str]]:
        """(pipeline id, {Ringback stage: GoHighLevel stage id}); raises UnmappedStages."""
        if self._pipeline is None:
            data = self.client.request("GET", "/opportunities/pipelines", params={"locationId": self.location_id})
            pipelines = {p["id"]: {st["id"]: st["name"] for st in p.get("stages", [])}
                         for p in data.get("pipelines", [])}
            wanted = self.stage_overrides.get("pipeline")
            if wanted:
                pipelines = {pid: st for pid, st in pipelines.items()
                             if pid == wanted or any(p.get("name") == wanted for p in data.get("pipelines", [])
                                                     if p["id"] == pid)}
            self._pipeline = best_pipeline(pipelines, self.stage_overrides.get("stages"))
        return self._pipeline

    def contact_phone(self, contact_id: str) -> str | None:
        return (self.client.request("GET", f"/contacts/{contact_id}").get("contact") or {}).get("phone")

    def upsert_contact(self, *, phone: str, first_name: str | None = None) -> str:
        found = self.client.request("GET", "/contacts/search/duplicate",
                                    params={"locationId": self.location_id, "number": phone})
        if found.get("contact"):
            return found["contact"]["id"]
        body = {"locationId": self.location_id, "phone": phone, "source": "Ringback missed call"}
        if first_name:
            body["firstName"] = first_name
        # Upsert (not create): GoHighLevel matches on the phone, so a race cannot make two.
        return self.client.request("POST", "/contacts/upsert", json=body)["contact"]["id"]

    def open_deal(self, *, contact_id: str, name: str, stage: str, value: float | None = None) -> str:
        pipeline_id, stages = self.pipeline()
        body = {"pipelineId": pipeline_id, "locationId": self.location_id, "name": name, "status": "open",
                "contactId": contact_id, "pipelineStageId": stages[stage]}
        if value is not None:
            body["monetaryValue"] = value
        return self.client.request("POST", "/opportunities/", json=body)["opportunity"]["id"]

    def move_deal(self, *, deal_id: str, stage: str, value: float | None = None) -> None:
        _, stages = self.pipeline()
        body = {"pipelineStageId": stages[stage]}
        if value is not None:
            body["monetaryValue"] = value
        if stage in ("booked", "lost"):
            body["status"] = "won" if stage == "booked" else "lost"
        self.client.request("PUT", f"/opportunities/{deal_id}", json=body)

    def add_note(self, *, contact_id: str, body: str) -> str:
        return self.client.request("POST", f"/contacts/{contact_id}/notes", json={"body": body})["note"]["id"]

    def create_task(self, *, contact_id: str, title: str, due: datetime) -> str:
        data = self.client.request("POST", f"/contacts/{contact_id}/tasks",
                                   json={"title": title, "dueDate": due.isoformat(), "completed": False})
        return data["task"]["id"]
