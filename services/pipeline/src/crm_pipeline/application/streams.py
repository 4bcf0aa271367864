"""The pipeline's commands on their streams: load, decide, append (``crm_runtime.streams``).

The generic code lives in the runtime; the pipeline's deciders (``deciders.py``) bind
it to the lead, opportunity, quote and order. The entry points and tests reach it here.
"""

from __future__ import annotations

from crm_runtime.streams import Decider, Dependencies, Loaded, Outcome, execute, load

__all__ = ["Decider", "Dependencies", "Loaded", "Outcome", "execute", "load"]
