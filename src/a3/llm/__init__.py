"""The model layer: every LLM call in A3 goes through ``LLMClient``."""

from a3.llm.backends import Backend, BackendReply, InspectBackend, ScriptedBackend
from a3.llm.client import LLMClient, ScriptedClient, current_stage
from a3.llm.errors import (
    BudgetExceededError,
    LLMCallError,
    LLMError,
    StructuredOutputError,
    TransientError,
    UnknownPriceError,
)
from a3.llm.pricing import PriceTable
from a3.llm.retry import RetryPolicy
from a3.llm.types import CallConfig, Completion, Message, Usage

__all__ = [
    "Backend",
    "BackendReply",
    "BudgetExceededError",
    "CallConfig",
    "Completion",
    "InspectBackend",
    "LLMCallError",
    "LLMClient",
    "LLMError",
    "Message",
    "PriceTable",
    "RetryPolicy",
    "ScriptedBackend",
    "ScriptedClient",
    "StructuredOutputError",
    "TransientError",
    "UnknownPriceError",
    "Usage",
    "current_stage",
]
