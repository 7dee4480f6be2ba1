"""Schema-guided decoding with a local Hugging Face model: replies valid for their schema by
construction, however small the model.

We write the JSON skeleton ourselves and let the model fill it: a string is generated up to its
closing quote (within a token budget, at least its ``minLength``, and never one of the values its
``not: {enum: [...]}`` lists, compared ignoring case and spacing), a boolean, enum, const or
union branch is the alternative the model finds most likely (or one drawn from those likelihoods
at a temperature), an array grows while the model prefers another item (within
``minItems``/``maxItems``; a ``prefixItems`` tuple may stop after ``minItems``), and a number is
read from a few free tokens.

A flat schema (string, boolean, enum and number fields, like a judge's verdict) has the same
shape in every reply, so a whole batch is decoded together; nested schemas whose shape depends on
the model's choices (variable arrays, unions) are decoded one request at a time, and then every
decision reuses the key/value cache of the text read so far (``PrefixCache``): a decision costs
its new tokens, not the whole prompt again.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel

STRING_FIELD_TOKENS = 96  # budget for one string: a reason is a sentence or two
NUMBER_TOKENS = 6
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _is_flat_field(annotation: Any) -> bool:
    return annotation in (bool, str, int, float) or typing.get_origin(annotation) is Literal


def is_flat(schema: type[BaseModel] | None) -> bool:
    """True when every field is a string, boolean, number or Literal: decodable as a batch."""
    return schema is not None and bool(schema.model_fields) and all(_is_flat_field(f.annotation) for f in schema.model_fields.values())


def decode_with_schema(model: Any, tokenizer: Any, prompts: list[str], schema: type[BaseModel], max_tokens: int,
                       temperature: float = 0.0, seed: int = 0, cache: PrefixCache | None = None) -> list[tuple[str, int]]:
    """For each chat-formatted prompt, (a JSON text valid for ``schema``, tokens generated).
    Several prompts only for flat schemas (see ``is_flat``). One prompt is decoded with ``cache``
    (a fresh one when not given); passing the same cache across calls also reuses a shared prompt
    beginning between requests."""
    if len(prompts) > 1 and not is_flat(schema):
        raise ValueError(f"{schema.__name__} is not flat: decode it one prompt at a time")
    reader: _Reader = (_CachedReader(tokenizer, cache or PrefixCache(model)) if len(prompts) == 1
                       else _BatchReader(model, tokenizer))
    return SchemaDecoder(reader, prompts, schema.model_json_schema(), max_tokens, temperature, seed).run()


class PrefixCache:
    """The key/value cache of the last token sequence the model read. The next sequence that
    starts the same way (the same prompt with a few more characters of JSON) is read from where
    they part, so each decision of the decoder costs only its new tokens."""

    def __init__(self, model: Any, reuse: bool = True) -> None:
        self.model = model
        self.reuse = reuse  # False reads every sequence from scratch: the reference for tests
        self.ids: list[int] = []
        self.cache: Any = None
        self.tokens_read = 0  # tokens run through the model, for tests and benchmarks

    def logits(self, ids: list[int], first: int) -> Any:
        """Next-token logits at positions ``first`` .. ``len(ids) - 1`` of ``ids``."""
        import torch
        from transformers import DynamicCache

        keep = min(_shared_prefix(self.ids, ids) if self.reuse else 0, first)
        if self.cache is None or keep == 0:
            self.cache, keep = DynamicCache(config=self.model.config), 0
        elif self.cache.get_seq_length() > keep:
            self.cache.crop(keep - self.cache.get_seq_length())
        with torch.inference_mode():
            output = self.model(input_ids=torch.tensor([ids[keep:]]), past_key_values=self.cache, use_cache=True)
        self.ids = list(ids)
        self.tokens_read += len(ids) - keep
        return output.logits[0, first - keep:].float()


def _shared_prefix(a: list[int], b: list[int]) -> int:
    length = min(len(a), len(b))
    for index in range(length):
        if a[index] != b[index]:
            return index
    return length


class _Reader(typing.Protocol):
    """What the decoder asks of the model, for all its prompts at once."""

    def most_likely(self, contexts: list[str], options: list[str], temperature: float, generator: Any) -> list[int]: ...

    def until_quote(self, contexts: list[str], budget: int, min_chars: int, temperature: float,
                    generator: Any, forbidden: set[str]) -> tuple[list[str], list[int]]: ...

    def free_text(self, contexts: list[str], budget: int) -> tuple[list[str], list[int]]: ...


class SchemaDecoder:
    """Walks pydantic's JSON schema ($ref, anyOf/oneOf, enum/const, object, array with prefixItems
    or items, string, number, boolean, null), writing the same structure for every prompt."""

    MAX_ITEMS = 12  # arrays without maxItems stop here at the latest

    def __init__(self, reader: _Reader, prompts: list[str], schema: dict[str, Any], max_tokens: int,
                 temperature: float = 0.0, seed: int = 0) -> None:
        import torch

        self.reader, self.prompts = reader, prompts
        self.temperature = temperature
        self.generator = torch.Generator().manual_seed(seed)
        self.defs = schema.get("$defs", {})
        self.schema = schema
        self.texts = ["" for _ in prompts]
        self.budget = max_tokens
        self.used = [0 for _ in prompts]

    def run(self) -> list[tuple[str, int]]:
        self._value(self.schema)
        return list(zip(self.texts, self.used))

    def _contexts(self) -> list[str]:
        return [p + t for p, t in zip(self.prompts, self.texts)]

    def _emit(self, text: str) -> None:
        self.texts = [t + text for t in self.texts]

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.defs[node["$ref"].split("/")[-1]]
        return node

    def _choose(self, options: list[str]) -> list[int]:
        """Per prompt, the index of the option taken."""
        if len(options) == 1:  # a const (a conversation turn's role, say): nothing to ask the model
            return [0] * len(self.prompts)
        return self.reader.most_likely(self._contexts(), options, self.temperature, self.generator)

    def _value(self, node: dict[str, Any]) -> None:
        node = self._resolve(node)
        if "anyOf" in node or "oneOf" in node:
            alternatives = [self._resolve(a) for a in node.get("anyOf", node.get("oneOf"))]
            self._value(alternatives[self._choose([_start_of(a) for a in alternatives])[0]])  # one prompt: see decode_with_schema
        elif "enum" in node or "const" in node or node.get("type") == "boolean":
            values = [True, False] if node.get("type") == "boolean" else node.get("enum", [node.get("const")])
            for index, pick in enumerate(self._choose([json.dumps(v) for v in values])):
                self.texts[index] += json.dumps(values[pick])
        elif node.get("type") == "object":
            self._emit("{")
            for position, (name, child) in enumerate(node.get("properties", {}).items()):
                self._emit(("" if position == 0 else ", ") + json.dumps(name) + ": ")
                self._value(child)
            self._emit("}")
        elif node.get("type") == "array":
            self._array(node)
        elif node.get("type") == "null":
            self._emit("null")
        elif node.get("type") in ("integer", "number"):
            raw, counts = self.reader.free_text(self._contexts(), NUMBER_TOKENS)
            for index, (text, count) in enumerate(zip(raw, counts)):
                found = _NUMBER.match(text.strip())
                number = float(found.group(0)) if found else 0.0
                self.texts[index] += json.dumps(int(number) if node["type"] == "integer" else number)
                self.used[index] += count
        else:  # string, or a schema without a type: a string is the safest reading
            self._emit('"')
            low = node.get("minLength", 0)
            # A required length outranks the token budget: every token adds at least one character.
            budget = max(low, min(STRING_FIELD_TOKENS, self.budget - max(self.used)))
            raw, counts = [""] * len(self.prompts), [0] * len(self.prompts)
            forbidden = {_loose(v) for v in node.get("not", {}).get("enum", []) if isinstance(v, str)}
            if budget:
                raw, counts = self.reader.until_quote(self._contexts(), budget, low, self.temperature, self.generator, forbidden)
            for index, (text, count) in enumerate(zip(raw, counts)):
                self.texts[index] += json.dumps(_json_string(text))[1:]  # the content and its closing quote
                self.used[index] += count

    def _array(self, node: dict[str, Any]) -> None:
        self._emit("[")
        fixed = node.get("prefixItems")  # a tuple: each position has its own schema
        items = node.get("items", {})
        low = node.get("minItems", len(fixed) if fixed else 0)
        high = len(fixed) if fixed else min(node.get("maxItems", self.MAX_ITEMS), self.MAX_ITEMS)
        count = 0
        while count < high:
            item = fixed[count] if fixed else items
            if count >= low:  # optional from here on: one prompt (see decode_with_schema)
                more = ", " if count else _start_of(self._resolve(item))
                if max(self.used) >= self.budget or self._choose(["]", more])[0] == 0:
                    break
            self._emit(", " if count else "")
            self._value(item)
            count += 1
        self._emit("]")


def _start_of(node: dict[str, Any]) -> str:
    """The first characters of a JSON value of this schema, to compare alternatives by."""
    if "enum" in node or "const" in node:
        return json.dumps(node.get("enum", [node.get("const")])[0])
    kinds = {"object": "{", "array": "[", "string": '"', "null": "null", "boolean": "true", "integer": "0", "number": "0"}
    return kinds.get(node.get("type"), '"')


def until_stop(tokens: list[int], stops: set[int]) -> list[int]:
    """The tokens before the first end-of-text or padding token."""
    for position, token in enumerate(tokens):
        if token in stops:
            return tokens[:position]
    return tokens


def _ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _stop_ids(tokenizer: Any) -> set[int]:
    return {t for t in (tokenizer.eos_token_id, tokenizer.pad_token_id) if t is not None}


class _CachedReader:
    """One prompt, every decision read through a PrefixCache."""

    def __init__(self, tokenizer: Any, cache: PrefixCache) -> None:
        self.tokenizer, self.cache = tokenizer, cache

    def most_likely(self, contexts: list[str], options: list[str], temperature: float, generator: Any) -> list[int]:
        import torch

        context = _ids(self.tokenizer, contexts[0])
        scores = torch.empty(1, len(options))
        for column, option in enumerate(options):
            option_ids = _ids(self.tokenizer, option)
            rows = self.cache.logits(context + option_ids, len(context) - 1)[: len(option_ids)]
            log_probs = torch.log_softmax(rows, dim=-1)
            scores[0, column] = log_probs[torch.arange(len(option_ids)), torch.tensor(option_ids)].sum()
        return _pick(scores, temperature, generator)

    def until_quote(self, contexts: list[str], budget: int, min_chars: int, temperature: float,
                    generator: Any, forbidden: set[str]) -> tuple[list[str], list[int]]:
        banned = _quote_token_ids(self.tokenizer) + sorted(_stop_ids(self.tokenizer))
        text, count = self._continue(contexts[0], budget, temperature, generator,
                                     done=lambda t: _closing_quote(t) is not None,
                                     banned=lambda t: banned if not _may_close(t, min_chars, forbidden) else None)
        end = _closing_quote(text)
        return [text if end is None else text[:end]], [count]

    def free_text(self, contexts: list[str], budget: int) -> tuple[list[str], list[int]]:
        text, count = self._continue(contexts[0], budget, 0.0, None, done=lambda t: False, banned=lambda t: None)
        return [text], [count]

    def _continue(self, context: str, budget: int, temperature: float, generator: Any, done: Callable[[str], bool],
                  banned: Callable[[str], list[int] | None]) -> tuple[str, int]:
        """Greedy (or sampled) tokens after ``context`` until the end token, ``done`` or the budget."""
        import torch

        start = _ids(self.tokenizer, context)
        stops = _stop_ids(self.tokenizer)
        generated: list[int] = []
        text = ""
        for _ in range(budget):
            scores = self.cache.logits(start + generated, len(start) + len(generated) - 1)[-1].clone()
            blocked = banned(text)
            if blocked:
                scores[blocked] = float("-inf")
            token = _pick(scores.unsqueeze(0), temperature, generator)[0]
            if token in stops:
                break
            generated.append(token)
            text = self.tokenizer.decode(generated, skip_special_tokens=True)
            if done(text):
                break
        return text, len(generated)


def _pick(scores: Any, temperature: float, generator: Any) -> list[int]:
    """Per row, the highest score, or with a temperature, a draw from the softmax of the scores."""
    import torch

    if temperature > 0:
        return torch.multinomial(torch.softmax(scores / temperature, dim=1), 1, generator=generator).squeeze(1).tolist()
    return scores.argmax(dim=1).tolist()


class _BatchReader:
    """Several prompts read together as one left-padded batch (flat schemas only)."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer = model, tokenizer

    def most_likely(self, contexts: list[str], options: list[str], temperature: float, generator: Any) -> list[int]:
        """Per context, the option with the highest total log-probability (or drawn at a temperature)."""
        import torch

        scores = torch.empty(len(contexts), len(options))
        encoded = _encode(self.tokenizer, contexts)
        for column, option in enumerate(options):
            option_ids = _ids(self.tokenizer, option)
            suffix = torch.tensor(option_ids).repeat(len(contexts), 1)
            input_ids = torch.cat([encoded["input_ids"], suffix], dim=1)
            mask = torch.cat([encoded["attention_mask"], torch.ones_like(suffix)], dim=1)
            with torch.inference_mode():
                logits = self.model(input_ids=input_ids, attention_mask=mask).logits
            log_probs = torch.log_softmax(logits[:, -len(option_ids) - 1:-1, :].float(), dim=-1)
            scores[:, column] = log_probs.gather(2, suffix.unsqueeze(-1)).squeeze(-1).sum(dim=1)
        return _pick(scores, temperature, generator)

    def until_quote(self, contexts: list[str], budget: int, min_chars: int, temperature: float,
                    generator: Any, forbidden: set[str]) -> tuple[list[str], list[int]]:
        """Each context's string content up to its first unescaped quote; while a string may not
        end yet (see ``_may_close``), tokens containing a quote (and the end of text) are not allowed."""
        import torch
        from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

        tokenizer = self.tokenizer
        encoded = _encode(tokenizer, contexts)
        start = encoded["input_ids"].shape[1]

        class ClosedString(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                done = [_closing_quote(tokenizer.decode(row[start:], skip_special_tokens=True)) is not None for row in input_ids]
                return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

        class NotYetClosed(LogitsProcessor):
            banned = _quote_token_ids(tokenizer) + sorted(_stop_ids(tokenizer))

            def __call__(self, input_ids: Any, scores: Any) -> Any:
                for row in range(input_ids.shape[0]):
                    if not _may_close(tokenizer.decode(input_ids[row, start:], skip_special_tokens=True), min_chars, forbidden):
                        scores[row, self.banned] = float("-inf")
                return scores

        _seed_torch(generator)  # sampled strings follow the request's seed
        texts, counts = self._generate(encoded, budget, temperature, stopping_criteria=StoppingCriteriaList([ClosedString()]),
                                       logits_processor=LogitsProcessorList([NotYetClosed()]) if min_chars or forbidden else None)
        cut = [_closing_quote(text) for text in texts]
        return [text if end is None else text[:end] for text, end in zip(texts, cut)], counts

    def free_text(self, contexts: list[str], budget: int) -> tuple[list[str], list[int]]:
        return self._generate(_encode(self.tokenizer, contexts), budget, 0.0)

    def _generate(self, encoded: Any, budget: int, temperature: float, **generate_args: Any) -> tuple[list[str], list[int]]:
        import torch

        start = encoded["input_ids"].shape[1]
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        with torch.inference_mode():
            output = self.model.generate(**encoded, max_new_tokens=budget, pad_token_id=self.tokenizer.pad_token_id,
                                         **sampling, **generate_args)
        kept = [until_stop(row[start:].tolist(), _stop_ids(self.tokenizer)) for row in output]
        return [self.tokenizer.decode(tokens, skip_special_tokens=True) for tokens in kept], [len(tokens) for tokens in kept]


def _seed_torch(generator: Any) -> None:
    """Seed torch's global generator from ours (model.generate samples from the global one)."""
    import torch

    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))


def _encode(tokenizer: Any, texts: list[str]) -> Any:
    return tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)


_QUOTE_TOKENS: dict[int, list[int]] = {}


def _quote_token_ids(tokenizer: Any) -> list[int]:
    """Ids of the tokens whose text contains a double quote (cached per tokenizer)."""
    key = id(tokenizer)
    if key not in _QUOTE_TOKENS:
        vocab = tokenizer.get_vocab()
        _QUOTE_TOKENS[key] = [i for token, i in vocab.items() if '"' in tokenizer.convert_tokens_to_string([token])]
    return _QUOTE_TOKENS[key]


def _loose(text: str) -> str:
    """A string as ``not: {enum: [...]}`` compares it: ignoring case, hyphens and spacing."""
    return " ".join(text.lower().replace("-", " ").split())


def _may_close(text: str, min_chars: int, forbidden: set[str]) -> bool:
    """Whether a string with this content may end here: long enough (not counting surrounding
    blanks, so a required string is never blank), and not a forbidden value."""
    return len(text.strip()) >= min_chars and (not forbidden or _loose(text) not in forbidden)


def _closing_quote(text: str) -> int | None:
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return index
    return None


def _json_string(raw: str) -> str:
    """The model's string content, unescaped when it is valid JSON escaping, else taken as written."""
    try:
        return json.loads('"' + raw.rstrip("\\") + '"')
    except ValueError:
        return raw.strip()
