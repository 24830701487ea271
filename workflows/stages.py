"""Pipeline stages: Ringback's five, matched to a CRM's own by name, the same way in every CRM."""
from __future__ import annotations

import re

STAGES = ("missed_call", "texted_back", "replied", "booked", "lost")
LABELS = {"missed_call": "Missed call", "texted_back": "Texted back", "replied": "Replied", "booked": "Booked",
          "lost": "Lost"}
# Names people give these stages, normalised (lower case, letters and digits only).
SYNONYMS = {
    "missed_call": {"missedcall", "missedcalls", "missed", "newmissedcall"},
    "texted_back": {"textedback", "texted", "textsent", "contacted"},
    "replied": {"replied", "responded", "callerreplied", "engaged"},
    "booked": {"booked", "appointmentbooked", "booking", "won", "closedwon"},
    "lost": {"lost", "closedlost", "nobooking", "closednotconverted"},  # the last: Salesforce's standard Lead Status
}
# The state of a recovery -> the stage its deal sits in.
STATE_STAGE = {"missed": "missed_call", "texted": "texted_back", "replied": "replied", "booked": "booked",
               "lost": "lost"}


class UnmappedStages(ValueError):
    """Some of Ringback's stages have no stage in the CRM's pipeline; the message names them."""


def normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def match(stages: dict[str, str], overrides: dict[str, str] | None = None,
          needed: tuple[str, ...] = STAGES) -> dict[str, str]:
    """Map each needed Ringback stage to a CRM stage id. ``stages`` is {crm stage id: name};
    ``overrides`` maps a Ringback stage to a CRM stage id or name, explicitly."""
    by_name = {normalise(name): sid for sid, name in stages.items()}
    result = {}
    for key in needed:
        wanted = (overrides or {}).get(key)
        if wanted:
            sid = wanted if wanted in stages else by_name.get(normalise(wanted))
            if sid is None:
                raise UnmappedStages(f"the stage mapped to {LABELS[key]!r} ({wanted!r}) is not in the pipeline")
        else:
            sid = next((by_name[n] for n in SYNONYMS[key] if n in by_name), None)
        if sid is not None:
            result[key] = sid
    missing = [LABELS[k] for k in needed if k not in result]
    if missing:
        raise UnmappedStages("no stage for " + ", ".join(missing) + " (found: " + ", ".join(stages.values()) + ")")
    return result


def best_pipeline(pipelines: dict[str, dict[str, str]], overrides=None, needed=STAGES) -> tuple[str, dict[str, str]]:
    """The first pipeline ({id: {stage id: name}}) in which every needed stage matches."""
    errors = []
    for pid, stages in pipelines.items():
        try:
            return pid, match(stages, overrides, needed)
        except UnmappedStages as exc:
            errors.append(str(exc))
    raise UnmappedStages(
        "no pipeline has stages for " + ", ".join(LABELS[k] for k in needed)
        + (": " + "; ".join(errors) if errors else ": there are no pipelines"))
