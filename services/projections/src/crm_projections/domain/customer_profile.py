"""The customer 360's master data: what the contacts context says about the customer.

``profile_changes`` answers the top-level fields a contacts event sets, as new
values (the document it reads is never changed). Events the 360 does not show
(addresses, consent, preferences...) change nothing but their stream position.
After an erasure no personal data is kept or taken in again: the profile and
the interaction summaries are gone, the id, owner and positions stay.
"""

from __future__ import annotations

from typing import Any

from crm_contracts import DomainEvent, EventMetadata
from crm_contracts import contacts as c
from crm_projections.domain.streams import Document, utc

INTERACTIONS_SHOWN = 10


def profile_changes(document: Document, metadata: EventMetadata, event: DomainEvent) -> Document:
    erased = "erased_at" in document
    match event:
        case c.CustomerRegistered():
            return {
                "profile": {
                    "name": event.name,
                    "kind": event.kind.value,
                    "email": event.email,
                    "phone": event.phone,
                },
                "registered_at": metadata.time,
                "lifecycle_stage": c.LifecycleStage.PROSPECT.value,
            }
        case c.CustomerDetailsChanged() if not erased:
            profile = dict(document.get("profile") or {})
            for field in ("name", "email", "phone"):
                value = getattr(event, field)
                if value is not None:
                    profile[field] = value
            profile |= dict.fromkeys(event.cleared)
            return {"profile": profile}
        case c.CustomerOwnerAssigned():
            return {"owner": {"owner_id": event.owner_id, "team": event.team}}
        case c.CustomerErased():
            return _erased(document, metadata)
        case c.CustomerLifecycleStageChanged():
            return {"lifecycle_stage": event.to_stage.value}
        case c.CustomerClassified():
            return {"classification": event.classification.value}
        case c.CustomerSegmentsAssigned():
            return {"segments": sorted(set(event.segments))}
        case c.CustomerValueTierSet():
            return {"value_tier": event.value_tier.value}
        case c.CustomerTagged():
            return {"tags": sorted(set(document.get("tags", [])) | set(event.tags))}
        case c.CustomerUntagged():
            return {"tags": sorted(set(document.get("tags", [])) - set(event.tags))}
        case c.InteractionLogged():
            latest = document.get("last_interaction_at")
            at = utc(event.at)
            return {
                "interactions": _latest(document.get("interactions", []), event, erased),
                "last_interaction_at": at if latest is None or at > utc(latest) else latest,
            }
        case c.CustomerMergedInto():
            return {"merged_into": event.survivor_id}
        case c.CustomersMerged():
            return _merged(document, event, erased)
    return {}


def _erased(document: Document, metadata: EventMetadata) -> Document:
    kind = (document.get("profile") or {}).get("kind")
    return {
        "profile": {"name": c.ERASED_NAME, "kind": kind, "email": None, "phone": None},
        "interactions": [{**i, "summary": None} for i in document.get("interactions", [])],
        "erased_at": metadata.time,
    }


def _latest(
    interactions: list[dict[str, Any]], event: c.InteractionLogged, erased: bool
) -> list[dict[str, Any]]:
    """The newest interactions (by when they happened, then id), this one included."""
    entry = {
        "interaction_id": event.interaction_id,
        "kind": event.kind.value,
        "at": utc(event.at),
        "summary": None if erased else event.summary,
        "logged_by": event.logged_by,
    }
    others = [i for i in interactions if i["interaction_id"] != event.interaction_id]
    newest = sorted([*others, entry], key=lambda i: (utc(i["at"]), i["interaction_id"]))
    return newest[::-1][:INTERACTIONS_SHOWN]


def _merged(document: Document, event: c.CustomersMerged, erased: bool) -> Document:
    """The survivor takes the duplicate's details it lacked, and its tags."""
    changes: Document = {
        "merged_from": sorted({*document.get("merged_from", []), event.merged_id}),
        "tags": sorted(set(document.get("tags", [])) | set(event.tags)),
    }
    taken = {f: getattr(event, f) for f in ("email", "phone") if getattr(event, f) is not None}
    if taken and not erased:
        changes["profile"] = {**(document.get("profile") or {}), **taken}
    return changes
