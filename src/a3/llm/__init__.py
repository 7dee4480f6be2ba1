"""The model layer: every LLM call in A3 goes through ``LLMClient``."""

from a3.llm.backends import Backend, BackendReply, InspectBackend
from a3.llm.budget import Budget
from a3.llm.client import LLMClient
from a3.llm.errors import (
    BudgetExceededError,
    LLMCallError,
    LLMError,
    StructuredOutputError,
    TransientError,
    UnknownPriceError,
)
from a3.llm.naming import PROVIDERS, resolve_model
from a3.llm.pricing import PriceTable
from a3.llm.retry import RetryPolicy
from a3.llm.routing import BackendFactory, default_backend
from a3.llm.types import CallConfig, Completion, Message, Usage
from a3.store.run import current_stage

__all__ = [
    "Backend",
    "BackendFactory",
    "BackendReply",
    "Budget",
    "BudgetExceededError",
    "CallConfig",
    "Completion",
    "InspectBackend",
    "LLMCallError",
    "LLMClient",
    "LLMError",
    "Message",
    "PROVIDERS",
    "PriceTable",
    "RetryPolicy",
    "StructuredOutputError",
    "TransientError",
    "UnknownPriceError",
    "Usage",
    "current_stage",
    "default_backend",
    "resolve_model",
]
