"""NAS-Bench-NLP's cell semantics in plain PyTorch, for parity tests.

A transcription of what the benchmark's ``CustomRNNCell`` / ``CustomRNN`` (custom_rnn.py in the
NAS-Bench-NLP repository, Klyuchnikov et al. 2020) compute: every ``linear`` node is a
``MultiLinear`` (Σ_i W_i in_i + b, one bias), nodes run in topological order, ``h_prev_k`` is
state k of the previous step, the states carried are ``h_new_0 .. h_new_{K-1}`` with K one more
than the largest index, and the layer's output at each step is ``h_new_0``. Weights live in a
plain dict so that a test can copy them into a compiled module.
"""

from __future__ import annotations

import torch
from torch import Tensor


def n_states(recipe: dict) -> int:
    return 1 + max(int(k[len("h_new_"):]) for k in recipe
                   if k.startswith("h_new_") and k[len("h_new_"):].isdigit())


def order(recipe: dict) -> list[str]:
    done: list[str] = []
    seen: set[str] = set()

    def visit(v: str) -> None:
        if v in seen or v not in recipe:
            return
        seen.add(v)
        for i in recipe[v]["input"]:
            visit(i)
        done.append(v)

    for v in recipe:
        visit(v)
    return done


def init_weights(recipe: dict, m: int, n: int, gen: torch.Generator,
                 dtype: torch.dtype = torch.float64) -> dict[str, tuple[list[Tensor], Tensor]]:
    """node -> ([W_i (n, width_i)], b (n,)) for every linear node, dead ones included."""
    out = {}
    bound = 1 / n ** 0.5
    for name, spec in recipe.items():
        if spec["op"] == "linear":
            ws = [(torch.rand(n, m if i == "x" else n, generator=gen, dtype=dtype) * 2 - 1)
                  * bound for i in spec["input"]]
            out[name] = (ws, (torch.rand(n, generator=gen, dtype=dtype) * 2 - 1) * bound)
    return out


def step(recipe: dict, weights: dict, x: Tensor, states: list[Tensor]) -> list[Tensor]:
    acts = {"activation_tanh": torch.tanh, "activation_sigm": torch.sigmoid,
            "activation_leaky_relu": torch.nn.functional.leaky_relu}
    val: dict[str, Tensor] = {"x": x}
    for k, s in enumerate(states):
        val[f"h_prev_{k}"] = s
    for name in order(recipe):
        spec = recipe[name]
        ins = [val[i] for i in spec["input"]]
        op = spec["op"]
        if op == "linear":
            ws, b = weights[name]
            out = b
            for w, v in zip(ws, ins, strict=True):
                out = out + v @ w.T
        elif op == "blend":
            out = ins[0] * ins[1] + (1 - ins[0]) * ins[2]
        elif op == "elementwise_sum":
            out = ins[0]
            for v in ins[1:]:
                out = out + v
        elif op == "elementwise_prod":
            out = ins[0]
            for v in ins[1:]:
                out = out * v
        else:
            out = acts[op](ins[0])
        val[name] = out
    return [val[f"h_new_{k}"] for k in range(len(states))]


def run(recipe: dict, weights: dict, xs: Tensor, n: int) -> tuple[Tensor, list[Tensor]]:
    """xs (T, B, m) -> (outputs (T, B, n), final states), zero initial states."""
    states = [xs.new_zeros(xs.shape[1], n) for _ in range(n_states(recipe))]
    ys = []
    for x in xs:
        states = step(recipe, weights, x, states)
        ys.append(states[0])
    return torch.stack(ys), states


@torch.no_grad()
def copy_into(layer, recipe: dict, names: dict[str, str], weights: dict) -> None:
    """Copy the interpreter's weights into a compiled layer of the imported genome
    (``names``: recipe node -> genome node, from ``from_nasbench_with_names``)."""
    g = layer.genome
    pmap = layer.param_map()
    params = dict(layer.named_parameters(recurse=False))
    for raw, (ws, b) in weights.items():
        if raw not in names:
            continue  # dead in the recipe: not in the genome
        node = g.node_map[names[raw]]
        parts = [node.name] if node.op == "linear" else list(node.inputs)
        assert len(parts) == len(ws), (raw, parts)
        for part, w in zip(parts, ws, strict=True):
            entries = pmap[part]
            wname, r0, r1 = entries[0]
            params[wname][r0:r1] = w
            if len(entries) > 1:
                bname, c0, c1 = entries[1]
                params[bname][c0:c1] = b


def random_recipe(rng, n_states: int, n_nodes: int) -> dict:
    """A random recipe in the benchmark's format (``rng``: a random.Random): ``n_nodes`` nodes
    over x, h_prev_0 .. h_prev_{n_states - 1} and earlier nodes, the last ``n_states`` of
    them renamed h_new_k. Many come out with x reaching the output only through a state, with
    dead nodes, or with states nobody reads."""
    ops = ["linear", "linear", "linear", "blend", "elementwise_prod", "elementwise_sum",
           "activation_tanh", "activation_sigm", "activation_leaky_relu"]
    names = [f"node_{k}" for k in range(n_nodes - n_states)] + \
        [f"h_new_{k}" for k in rng.sample(range(n_states), n_states)]
    sources = ["x", *(f"h_prev_{k}" for k in range(n_states))]
    recipe: dict = {}
    for name in names:
        op = rng.choice(ops)
        arity = {"linear": rng.randint(1, 3), "blend": 3, "elementwise_prod": 2,
                 "elementwise_sum": 2}.get(op, 1)
        recipe[name] = {"op": op, "input": [rng.choice(sources) for _ in range(arity)]}
        sources.append(name)
    return recipe
