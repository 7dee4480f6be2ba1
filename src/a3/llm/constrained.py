"""Constrained decoding for flat JSON schemas with a local Hugging Face model.

A flat schema has only string, boolean, enum (Literal) and number fields, like a judge's
``{"reason": str, "harmful": bool}``. We write the JSON skeleton ourselves and let the model
fill one field at a time: a string field is generated until its closing quote (or a token
budget), and a boolean or enum field is the allowed value the model finds most likely. The result
is valid for the schema by construction, however small the model.
"""

from __future__ import annotations

import json
import re
import typing
from typing import Any, Literal

from pydantic import BaseModel

STRING_FIELD_TOKENS = 96  # budget for one string field: a reason is a sentence or two
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def field_choices(annotation: Any) -> list[Any] | type | None:
    """The allowed values of a choice field, ``str``/``int``/``float`` for free fields, None if unsupported."""
    if annotation is bool:
        return [True, False]
    if annotation in (str, int, float):
        return annotation
    if typing.get_origin(annotation) is Literal:
        return list(typing.get_args(annotation))
    return None  # unions, lists and models are not flat


def is_flat(schema: type[BaseModel] | None) -> bool:
    return schema is not None and bool(schema.model_fields) and all(
        field_choices(f.annotation) is not None for f in schema.model_fields.values()
    )


def generate_structured(model: Any, tokenizer: Any, prompts: list[str], schema: type[BaseModel], max_tokens: int) -> list[tuple[str, int]]:
    """For each chat-formatted prompt, (a JSON text valid for ``schema``, tokens generated)."""
    texts = ["{" for _ in prompts]
    values: list[dict[str, Any]] = [{} for _ in prompts]
    generated = [0 for _ in prompts]
    names = list(schema.model_fields)
    properties = schema.model_json_schema().get("properties", {})
    for position, name in enumerate(names):
        kind = field_choices(schema.model_fields[name].annotation)
        head = ("" if position == 0 else ", ") + json.dumps(name) + ": "
        texts = [t + head for t in texts]
        if isinstance(kind, list):
            picks = _most_likely(model, tokenizer, [p + t for p, t in zip(prompts, texts)], [json.dumps(v) for v in kind])
            for index, pick in enumerate(picks):
                values[index][name] = kind[pick]
                texts[index] += json.dumps(kind[pick])
        elif kind is str:
            texts = [t + '"' for t in texts]
            budget = max(1, min(STRING_FIELD_TOKENS, max_tokens))
            low = properties.get(name, {}).get("minLength", 0)
            raw, counts = _until_quote(model, tokenizer, [p + t for p, t in zip(prompts, texts)], budget, low)
            for index, (text, count) in enumerate(zip(raw, counts)):
                value = _json_string(text)
                values[index][name] = value
                texts[index] += json.dumps(value)[1:]  # the string's content and its closing quote
                generated[index] += count
        else:  # int or float
            raw, counts = _free(model, tokenizer, [p + t for p, t in zip(prompts, texts)], 8)
            for index, (text, count) in enumerate(zip(raw, counts)):
                found = _NUMBER.match(text.strip())
                number = kind(found.group(0)) if found else kind(0)
                values[index][name] = number
                texts[index] += json.dumps(number)
                generated[index] += count
    return [(json.dumps(v, ensure_ascii=False), n) for v, n in zip(values, generated)]


def _encode(tokenizer: Any, texts: list[str]) -> Any:
    return tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)


def _most_likely(model: Any, tokenizer: Any, contexts: list[str], options: list[str], temperature: float = 0.0,
                 generator: Any = None) -> list[int]:
    """Per context, the option with the highest total log-probability, or with a temperature, an
    option drawn from the softmax of those log-probabilities."""
    import torch

    scores = torch.empty(len(contexts), len(options))
    for column, option in enumerate(options):
        option_ids = tokenizer(option, add_special_tokens=False)["input_ids"]
        encoded = _encode(tokenizer, contexts)
        suffix = torch.tensor(option_ids).repeat(len(contexts), 1)
        input_ids = torch.cat([encoded["input_ids"], suffix], dim=1)
        mask = torch.cat([encoded["attention_mask"], torch.ones_like(suffix)], dim=1)
        with torch.inference_mode():
            logits = model(input_ids=input_ids, attention_mask=mask).logits
        log_probs = torch.log_softmax(logits[:, -len(option_ids) - 1:-1, :].float(), dim=-1)
        scores[:, column] = log_probs.gather(2, suffix.unsqueeze(-1)).squeeze(-1).sum(dim=1)
    if temperature > 0:
        return torch.multinomial(torch.softmax(scores / temperature, dim=1), 1, generator=generator).squeeze(1).tolist()
    return scores.argmax(dim=1).tolist()


_QUOTE_TOKENS: dict[int, list[int]] = {}


def _quote_token_ids(tokenizer: Any) -> list[int]:
    """Ids of the tokens whose text contains a double quote (cached per tokenizer)."""
    key = id(tokenizer)
    if key not in _QUOTE_TOKENS:
        vocab = tokenizer.get_vocab()
        _QUOTE_TOKENS[key] = [i for token, i in vocab.items() if '"' in tokenizer.convert_tokens_to_string([token])]
    return _QUOTE_TOKENS[key]


def _until_quote(model: Any, tokenizer: Any, contexts: list[str], budget: int, min_chars: int = 0,
                 temperature: float = 0.0) -> tuple[list[str], list[int]]:
    """Generate each context's string content up to its first unescaped quote; while a string is
    shorter than ``min_chars``, tokens containing a quote (and the end of text) are not allowed."""
    import torch
    from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

    encoded = _encode(tokenizer, contexts)
    start = encoded["input_ids"].shape[1]

    class ClosedString(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = [_closing_quote(tokenizer.decode(row[start:], skip_special_tokens=True)) is not None for row in input_ids]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    class NotYetClosed(LogitsProcessor):
        banned = _quote_token_ids(tokenizer) + [t for t in (tokenizer.eos_token_id, tokenizer.pad_token_id) if t is not None]

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            for row in range(input_ids.shape[0]):
                if len(tokenizer.decode(input_ids[row, start:], skip_special_tokens=True)) < min_chars:
                    scores[row, self.banned] = float("-inf")
            return scores

    processors = LogitsProcessorList([NotYetClosed()]) if min_chars > 0 else None
    with torch.inference_mode():
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        output = model.generate(**encoded, max_new_tokens=budget, pad_token_id=tokenizer.pad_token_id,
                                stopping_criteria=StoppingCriteriaList([ClosedString()]), logits_processor=processors, **sampling)
    texts, counts = [], []
    stops = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    for row in output:
        kept = []
        for token in row[start:].tolist():
            if token in stops:
                break
            kept.append(token)
        text = tokenizer.decode(kept, skip_special_tokens=True)
        end = _closing_quote(text)
        texts.append(text if end is None else text[:end])
        counts.append(len(kept))
    return texts, counts


def _free(model: Any, tokenizer: Any, contexts: list[str], budget: int) -> tuple[list[str], list[int]]:
    import torch

    encoded = _encode(tokenizer, contexts)
    start = encoded["input_ids"].shape[1]
    with torch.inference_mode():
        output = model.generate(**encoded, max_new_tokens=budget, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return [tokenizer.decode(row[start:], skip_special_tokens=True) for row in output], [budget] * len(contexts)


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


class SchemaDecoder:
    """Schema-guided decoding for any JSON schema pydantic produces from plain data models:
    objects (every property, in order), arrays (the model chooses between another item and the
    end, within minItems/maxItems), tuples (prefixItems), strings, booleans, enums, numbers, null and anyOf unions (the
    most likely alternative). One request at a time; each choice is one forward pass."""

    MAX_ITEMS = 12  # arrays without maxItems stop here at the latest

    def __init__(self, model: Any, tokenizer: Any, prompt: str, schema: dict[str, Any], max_tokens: int,
                 temperature: float = 0.0, seed: int = 0) -> None:
        import torch

        self.model, self.tokenizer, self.prompt = model, tokenizer, prompt
        self.temperature = temperature
        self.generator = torch.Generator().manual_seed(seed)
        self.defs = schema.get("$defs", {})
        self.schema = schema
        self.text = ""
        self.budget = max_tokens
        self.used = 0

    def run(self) -> tuple[str, int]:
        self._value(self.schema)
        return self.text, self.used

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.defs[node["$ref"].split("/")[-1]]
        return node

    def _choose(self, options: list[str]) -> int:
        if len(options) == 1:  # a const (a conversation turn's role, say): nothing to ask the model
            return 0
        return _most_likely(self.model, self.tokenizer, [self.prompt + self.text], options, self.temperature, self.generator)[0]

    def _value(self, node: dict[str, Any]) -> None:
        node = self._resolve(node)
        if "anyOf" in node or "oneOf" in node:
            alternatives = [self._resolve(a) for a in node.get("anyOf", node.get("oneOf"))]
            starts = [_start_of(a) for a in alternatives]
            self._value(alternatives[self._choose(starts)])
        elif "enum" in node or "const" in node:
            values = node.get("enum", [node.get("const")])
            self.text += json.dumps(values[self._choose([json.dumps(v) for v in values])])
        elif node.get("type") == "object":
            self._object(node)
        elif node.get("type") == "array":
            self._array(node)
        elif node.get("type") == "boolean":
            self.text += ["true", "false"][self._choose(["true", "false"])]
        elif node.get("type") == "null":
            self.text += "null"
        elif node.get("type") in ("integer", "number"):
            raw, count = _free(self.model, self.tokenizer, [self.prompt + self.text], 6)
            self.used += count[0]
            found = _NUMBER.match(raw[0].strip())
            number = found.group(0) if found else "0"
            self.text += str(int(float(number))) if node["type"] == "integer" else number
        else:  # string, or a schema without a type: a string is the safest reading
            self.text += '"'
            low = node.get("minLength", 0)
            budget = max(1 if low else 0, min(STRING_FIELD_TOKENS, self.budget - self.used))
            if budget:
                torch_seed(self.generator)
                raw, count = _until_quote(self.model, self.tokenizer, [self.prompt + self.text], budget, low, self.temperature)
            else:
                raw, count = [""], [0]
            self.used += count[0]
            self.text += json.dumps(_json_string(raw[0]))[1:]

    def _object(self, node: dict[str, Any]) -> None:
        self.text += "{"
        for position, (name, child) in enumerate(node.get("properties", {}).items()):
            self.text += ("" if position == 0 else ", ") + json.dumps(name) + ": "
            self._value(child)
        self.text += "}"

    def _array(self, node: dict[str, Any]) -> None:
        if "prefixItems" in node:  # a tuple: each position has its own schema
            self.text += "["
            for position, item in enumerate(node["prefixItems"]):
                self.text += ", " if position else ""
                self._value(item)
            self.text += "]"
            return
        self.text += "["
        items = node.get("items", {})
        low = node.get("minItems", 0)
        high = min(node.get("maxItems", self.MAX_ITEMS), self.MAX_ITEMS)
        count = 0
        while count < high:
            if count >= low and (self.used >= self.budget or self._choose(["]", ", " if count else _start_of(self._resolve(items))]) == 0):
                break
            self.text += ", " if count else ""
            self._value(items)
            count += 1
        self.text += "]"


def _start_of(node: dict[str, Any]) -> str:
    """The first characters of a JSON value of this schema, to compare alternatives by."""
    kind = node.get("type")
    if "enum" in node or "const" in node:
        return json.dumps(node.get("enum", [node.get("const")])[0])
    return {"object": "{", "array": "[", "string": '"', "null": "null", "boolean": "true", "integer": "0", "number": "0"}.get(kind, '"')


def torch_seed(generator: Any) -> None:
    """Seed torch's global generator from ours, so sampled strings follow the request's seed."""
    import torch

    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))


def decode_with_schema(model: Any, tokenizer: Any, prompt: str, schema: type[BaseModel], max_tokens: int,
                       temperature: float = 0.0, seed: int = 0) -> tuple[str, int]:
    return SchemaDecoder(model, tokenizer, prompt, schema.model_json_schema(), max_tokens, temperature, seed).run()
