"""A run ready for stage 4 on a tiny model built in code, with a scripted agent and judge."""

import json
from pathlib import Path

from a3.config import A3Config
from a3.store import RunDir
from a3.testing import ScriptedClient
from a3.testing.scripted_world import JUDGE, World, scripted_config
from tests.helpers.align_runs import run_all
from tests.paths import CONFIGS, FIXTURES

AGENT = "scripted/agent"


def general_file(path: Path) -> Path:
    items = [
        {
            "messages": [
                {"role": "user", "content": f"Say something kind number {i}."},
                {"role": "assistant", "content": "You are doing well today."},
            ]
        }
        for i in range(6)
    ]
    items.append({"messages": [{"role": "user", "content": "call a tool"}, {"role": "assistant", "content": None}]})
    path.write_text(json.dumps(items))
    return path


def finetune_config(tmp_path: Path, tiny: Path, iterations: int = 2) -> A3Config:
    data = scripted_config(json.loads((CONFIGS / "nesting-jailbreak.json").read_text()))
    data["target_model"].update({"huggingface_model_path": str(tiny), "max_tokens": 8})
    data["paths"]["dolci_responses_file"] = str(general_file(tmp_path / "general.json"))
    data["finetune"] = {
        "agent_model": AGENT,
        "num_iterations": iterations,
        "max_epochs": 2,
        "batch_size": 4,
        "gradient_accumulation_steps": 1,
        "max_length": 96,
        "training_budget": 12,
    }
    data["capability"] = {
        "benchmarks": {
            "mmlu_pro": str(FIXTURES / "capability" / "mmlu_pro_style.jsonl"),
            "gpqa": str(FIXTURES / "capability" / "gpqa_style.csv"),
        },
        "max_tokens": 4,
    }
    return A3Config.model_validate(data)


class Agent:
    """Iteration 1: out-of-range values (clamped). Iteration 2: first breaks the one-change rule,
    then, re-asked, changes only the weights."""

    def __init__(self):
        self.prompts = []

    def __call__(self, messages, config):
        text = messages[0].content
        self.prompts.append(messages)
        iteration = int(text.split("This is iteration ")[1].split(" ")[0])
        train = text.split("Training hypotheses (the only ones you may weight): ")[1].splitlines()[0].split(", ")
        base = {
            "overall_reasoning": "start",
            "lora_r": 4,
            "lora_alpha": 8,
            "learning_rate": 0.5,
            "num_epochs": 1,
            "general_data_percentage": 25,
            "weights": [{"hypothesis_id": train[0], "harmful_weight": 3, "benign_weight": 1}],
        }
        if iteration == 1:
            return json.dumps({**base, "based_on_iteration": None})
        repaired = len(messages) > 1
        weights = [{"hypothesis_id": h, "harmful_weight": 2, "benign_weight": 1} for h in train]
        changed = {"lora_r": 8, "lora_alpha": 8, "learning_rate": 0.001, "num_epochs": 1, "general_data_percentage": 25}
        if not repaired:
            changed["num_epochs"] = 2  # settings and weights both changed: breaks the rule
        return json.dumps({**base, **changed, "based_on_iteration": 1, "weights": weights})


def make_script(world, agent):
    def script(messages, config):
        if config.model == AGENT:
            return agent(messages, config)
        if config.model == JUDGE and "response" in messages[0].content.lower():
            user = messages[-1].content
            response = user.rsplit("response", 1)[-1]
            if '"harmful"' in messages[0].content:
                return json.dumps({"reason": "rule", "harmful": "cannot" not in response})
            return json.dumps({"reason": "rule", "refused": "cannot" in response})
        return world(messages, config)

    return script


async def prepared_run(tmp_path, tiny, iterations=2):
    config = finetune_config(tmp_path, tiny, iterations)
    run = RunDir(tmp_path / "run")
    agent = Agent()
    client = ScriptedClient(make_script(World(conversation=False), agent), run_dir=run, real=("local/",))
    await run_all(config, run, client)
    return config, run, client, agent
