"""Loyalty's commands on their streams: load, decide, append (``crm_runtime.streams``).

The generic code lives in the runtime; loyalty's deciders (``deciders.py``) bind it to
the store and the member, the programme bound in. The roster and the routes reach it here.
"""

from __future__ import annotations

from crm_runtime.streams import Decider, Dependencies, Loaded, Outcome, execute, load

__all__ = ["Decider", "Dependencies", "Loaded", "Outcome", "execute", "load"]
