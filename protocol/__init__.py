"""Backline's pure core: wire messages, codec, document model, op engine.

No asyncio, no sockets, no files: everything here is a function of its inputs.
"""

from .errors import BacklineError, CloseCode, ErrorCode
from .limits import DEFAULT_LIMITS, Limits
from .messages import Batch, Role
from .model import PPQ, PROJECT_ID, Document
from .ops import Op, apply, apply_all
from .replica import Replica

__all__ = [
    "DEFAULT_LIMITS",
    "PPQ",
    "PROJECT_ID",
    "BacklineError",
    "Batch",
    "CloseCode",
    "Document",
    "ErrorCode",
    "Limits",
    "Op",
    "Replica",
    "Role",
    "apply",
    "apply_all",
]
