"""Generate the committed bad-input corpus ``tests/fuzz/corpus.jsonl`` (issue 15).

    python tests/fuzz/make_corpus.py            # rewrite the corpus
    python tests/fuzz/make_corpus.py --check    # exit 1 if the committed file differs

Deterministic (one seeded ``random.Random``): the test suite regenerates it and compares. One case a
line: ``{"id", "family", "argv", "spec"}``; ``argv`` is the CLI's arguments with placeholders
``{SPEC}`` (the case's spec file, written from ``spec``: text, or ``{"b64": ...}`` for raw bytes),
``{TMP}`` (a fresh folder) and ``{FILE}`` (an existing regular file). Families: hostile specs (wrong
types, huge and zero sizes, unknown keys, unicode and raw bytes, deep nesting, hostile formulas,
exponent and product bombs, syntax mutations, random layer stacks) and hostile quantities and option
values (token soup, mutations, bombs, unicode, bad option values of every job).

Canary: payloads that would create ``CANARY`` in the working folder if any text were executed.
"""

from __future__ import annotations

import base64
import json
import random
import sys
from pathlib import Path

CORPUS = Path(__file__).with_name("corpus.jsonl")
SEED = 15
CANARY = "__import__('os').system('touch CANARY')"

BASE = 'name = "base"\ninput = 3\n\n[[layer]]\ntype = "dense"\nout = 4\nbias = true\n\n' \
       '[[layer]]\ntype = "activation"\nname = "relu"\n\n[[layer]]\ntype = "dense"\nout = 2\n'
TINY = 'input = 2\n[[layer]]\ntype = "dense"\nout = 2\n[[layer]]\ntype = "activation"\nname = "relu"\n' \
       '[[layer]]\ntype = "dense"\nout = 1\n'
GOOD_Q = "sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2)"
TINY_Q = "sum(W1[i,:]**2) - sum(W2[:,i]**2)"

#: TOML values of every type, hostile ones included (each is valid TOML on its own).
VALUES = ['0', '-1', '1', '2', '65536', '65537', '1000000000', '9223372036854775807', '-9223372036854775808',
          '0.5', '-0.0', '1e308', 'inf', '-inf', 'nan', 'true', 'false', '""', '"3"', '"dense"', '"relu"',
          '"1/0"', '"nan"', '[]', '[1]', '[[1, 0], [0, 1]]', '[true, false]', '["dense"]', '{}', '{ a = 1 }',
          '1979-05-27T07:32:00Z', '07:32:00', '"\\u001b[31mred\\u001b[0m"', '"a\\nb"', '"\\u0000"',
          '"' + "x" * 5000 + '"', f'"{CANARY}"', '0x7fffffffffffffff', '0o777', '0b1010', '[[[[[[1]]]]]]']
INT_KEYS = {"dense": ["out"], "conv1d": ["kernel", "padding", "stride"],
            "conv2d": ["height", "width", "kernel", "out_channels", "padding", "stride"],
            "pool": ["size", "height", "width", "stride"], "attention": ["tokens", "key_dim", "value_dim"],
            "diagonal": ["depth"], "activation": ["k"]}
FORMULAS = ["z", "z**2", "z**64", "z**65", "(z**8)**8", "(z**8)**9", "((z**64)**64)**64", "z**(1/2)", "z**-1",
            "1/z", "1/(z-z)", "z/0", "log(0)*z", "sqrt(-1)*z", "1e999*z", "1e308*z*1e308", "exp(exp(exp(z)))",
            "exp(1000000)*z", "9**9**9*z", "z" + "*z" * 300, "(" * 300 + "z" + ")" * 300, "z.__class__",
            "__import__('os')", CANARY, "lambda: z", "[z]", "z if z else 1", "z[0]", "f(z)", "Z", "zz", "",
            " ", "\n", "z\x00", "z;z", "z; import os", "sigmoid(z)*z", "tanh(z)", "erf(z)**3", "atan(1/z)",
            "sqrt(z**2+1)", "abs(z)", "max(z, 0)", "z**z", "2**z", "z**1.5", "z**1e400", "pi*z", "E**z",
            "softplus(z)", "sinh(cosh(sinh(z)))", "z % 2", "z // 2", "z @ z", "-z", "+z", "~z", "not z",
            "z == 0", "z and z", "'z'", "b'z'", "0x10*z", "1_000*z", "z\n+1", "\u200bz", "ｚ", "z\u0301"]
QUANTITY_TOKENS = ["W1", "W2", "b1", "W3", "x", "i", "j", "k", "[", "]", "(", ")", ",", ":", "+", "-", "*", "/", "**",
                   "@", ".T", "sum", "norm", "trace", "sqrt", "abs", "exp", "log", "tanh", "0", "1", "2", "64",
                   "1e999", "0.5", " ", "W1[i,:]", "W2[:,i]", "b1[i]", "eta", "G_W1", "W1_dot", "lambda"]
UNICODE = ["\u00e9", "\u4e2d", "\U0001F600", "\u202e", "\u200b", "\x1b[2J", "\x1b]0;t\x07", "\t", "\r", "\x00",
           "\ufeff", "\u0301", "\ud7ff", "\U0010ffff"]


_COUNTS: dict[str, int] = {}


class Rep(list):
    """A long spec kept short in the corpus: [[text, count], ...] concatenated (``{"parts": ...}``)."""


def _case(cases: list, family: str, argv: list[str], spec: "str | bytes | Rep | None" = None) -> None:
    _COUNTS[family] = _COUNTS.get(family, 0) + 1
    entry: dict = {"id": f"{family}-{_COUNTS[family]:04d}", "family": family, "argv": argv}
    if spec is not None:
        entry["spec"] = ({"b64": base64.b64encode(spec).decode()} if isinstance(spec, bytes) else
                         {"parts": list(spec)} if isinstance(spec, Rep) else spec)
    cases.append(entry)


def _check(spec, q: str = GOOD_Q, *extra: str) -> list[str]:
    return ["check", "{SPEC}", "--quantity", q, *extra]


def _layer(layer_type: str, /, **keys: str) -> str:
    return f'\n[[layer]]\ntype = "{layer_type}"\n' + "".join(f"{k} = {v}\n" for k, v in keys.items())


def spec_cases(rng: random.Random, cases: list) -> None:
    job = lambda: rng.choice([["check", "{SPEC}", "--quantity", "sum(W1**2)"], ["discover", "{SPEC}"],
                              ["discover", "{SPEC}", "--count"], ["check", "{SPEC}", "--quantity", "W1"]])
    # wrong types: every top-level key and every layer key gets every kind of TOML value
    for v in VALUES:
        for key in ("input", "name", "loss", "layer"):
            _case(cases, "wrong-types", _check(None), f"{key} = {v}\n" + BASE.replace(f"{key} = ", "# ", 1)
                  if key != "layer" else f"input = 3\nlayer = {v}\n")
        for kind, keys in INT_KEYS.items():
            for key in keys:
                _case(cases, "wrong-types", job(), "input = 4\n" + _layer(kind, **{key: v}) + _layer("dense", out="1"))
        for kind in ("dense", "activation", "pool", "normalize", "diagonal"):
            key = rng.choice(["type", "bias", "name", "kind", "form", "alpha", "weight_norm", "windows", "formula"])
            _case(cases, "wrong-types", job(), "input = 4\n" + _layer(kind, **{key: v}))
    # huge and zero sizes, at and around every cap
    for kind, keys in INT_KEYS.items():
        for key in keys:
            for v in ["0", "-5", "1", "3", "16", "17", "64", "65", "1024", "1025", "4096", "4097", "65536",
                      "65537", "1000000", "1000000000", "9223372036854775807"]:
                extra = {"name": '"relu_power"'} if kind == "activation" else {}
                _case(cases, "sizes", job(), "input = 16\n" + _layer(kind, **extra, **{key: v}) + _layer("dense", out="1"))
    for v in ["0", "-1", "1", "65536", "65537", "10000000000"]:
        for out in ["1", "2", "10000", "65536", "0"]:
            _case(cases, "sizes", job(), f"input = {v}\n" + _layer("dense", out=out) + _layer("activation", name='"relu"')
                  + _layer("dense", out="2"))
    for depth in (1, 2, 8, 64, 65, 200, 513, 2000):
        _case(cases, "sizes", _check(None, "sum(W1**2) - sum(W2**2)"), "input = 2\n" + _layer("dense", out="2") * depth)
    # unknown keys, at the top and in layers
    for _ in range(160):
        key = rng.choice(["typo", "inptu", "layers", "Layer", "outt", "bias ", "\"a.b\"", "_", "type2", "kernal",
                          "\"\\u001b[31m\"", "x" * 300, "block", "params", "seed"])
        where = rng.random()
        text = (f"{key} = 1\n" + BASE) if where < 0.4 else BASE + f"{key} = {rng.choice(VALUES)}\n"
        _case(cases, "unknown-keys", job(), text)
    # unicode and raw bytes: names, types, keys, comments, BOM, CRLF, invalid UTF-8
    for u in UNICODE:
        esc = u.encode("unicode_escape").decode()
        for field in ("name", "loss"):
            _case(cases, "unicode", _check(None), BASE.replace('name = "base"', f'{field} = "{esc}x"'))
        _case(cases, "unicode", job(), "input = 2\n" + _layer(f"dense{esc}", out="1"))
        _case(cases, "unicode", job(), ("# " + u + "\n" + BASE).encode("utf-8", "surrogatepass"))
    for b in (b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\x00", b"\x80abc", b"\xf4\x90\x80\x80"):
        for pos in (0, 8, len(BASE) // 2, len(BASE)):
            raw = BASE.encode()
            _case(cases, "unicode", job(), raw[:pos] + b + raw[pos:])
    _case(cases, "unicode", _check(None), "\ufeff" + BASE)
    _case(cases, "unicode", _check(None), BASE.replace("\n", "\r\n"))
    _case(cases, "unicode", _check(None), BASE.replace("\n", "\r"))
    # deep nesting: residual blocks, arrays, inline tables
    for n in (1, 2, 15, 16, 17, 40, 200):
        text = "input = 2\n" + "".join("[[layer" + ".block" * i + "]]\ntype = \"residual\"\n" for i in range(n))
        _case(cases, "nesting", job(), text + "[[layer" + ".block" * n + "]]\ntype = \"dense\"\nout = 2\n")
    for n in (10, 100, 1000, 5000, 50000):
        _case(cases, "nesting", job(), Rep([["input = ", 1], ["[", n], ["]", n], ["\n" + BASE.replace("input = 3\n", ""), 1]]))
        _case(cases, "nesting", job(), Rep([["input = ", 1], ["{a=", n], ["1", 1], ["}", n], ["\n", 1]]))
        _case(cases, "nesting", job(), Rep([["input = 2\n[[layer]]\ntype = \"shared\"\npattern = ", 1], ["[", n],
                                            ["1", 1], ["]", n], ["\n", 1]]))
    _case(cases, "nesting", job(), Rep([[BASE, 1], ["#" + "x" * 99 + "\n", 10_001]]))  # over MAX_SPEC_CHARS
    # hostile formulas, alone and through layers
    for f in FORMULAS:
        lit = json.dumps(f)
        for layers in (1, 3):
            body = (_layer("dense", out="2") + _layer("activation", formula=lit)) * layers + _layer("dense", out="1")
            _case(cases, "formulas", _check(None, TINY_Q), "input = 2\n" + body)
        _case(cases, "formulas", ["discover", "{SPEC}"], "input = 2\n" + _layer("dense", out="2")
              + _layer("activation", formula=lit, name=rng.choice(['"x"', "5", '"\\u001b[2J"', "[1]"])) + _layer("dense", out="1"))
    # exponent and product bombs: widths x depth, tokens, padding, pattern tables, powers through layers
    bombs = [("input = 1000\n" + _layer("dense", out="2") + _layer("activation", name='"relu"') + _layer("dense", out="1")),
             ("input = 2\n" + _layer("dense", out="10000")),
             ("input = 2\n" + _layer("diagonal", depth="1000000")),
             ("input = 3\n" + _layer("conv1d", kernel="2", padding="1000000000")),
             ("input = 3\n" + _layer("conv1d", kernel="2", padding="1024") + _layer("dense", out="1")),
             ("input = 8192\n" + _layer("attention", tokens="4096") + _layer("dense", out="1")),
             ("input = 65536\n" + _layer("dense", out="65536") + _layer("dense", out="1")),
             ("input = 4096\n" + _layer("conv2d", height="64", width="64", kernel="3", out_channels="4096")),
             ("input = 64\n" + (_layer("dense", out="64") + _layer("activation", name='"tanh"')) * 8),
             Rep([["input = 600\n[[layer]]\ntype = \"shared\"\npattern = [", 1], ["[" + "1," * 599 + "1],", 600],
                  ["]\n", 1]]),
             ("input = 16\n" + _layer("pool", kind='"max"', size="1024")),
             ("input = 2\n" + (_layer("dense", out="2") + _layer("activation", name='"relu_power"', k="16")) * 6
              + _layer("dense", out="1"))]
    for text in bombs:
        for argv in (_check(None, "sum(W1**2)"), _check(None, "sum(W1**2)", "--method", "symbolic"),
                     _check(None, "sum(W1**2)", "--method", "randomized"), ["discover", "{SPEC}"],
                     ["discover", "{SPEC}", "--count"], ["discover", "{SPEC}", "--degree", "4"]):
            _case(cases, "bombs", argv, text)
    # syntax mutations of a valid spec (byte flips, truncations, duplicated headers)
    raw = BASE.encode()
    for _ in range(500):
        b = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            pos = rng.randrange(len(b))
            if op < 0.4:
                b[pos] = rng.randrange(256)
            elif op < 0.7:
                del b[pos:pos + rng.randint(1, 20)]
            else:
                b[pos:pos] = rng.choice([b"[[layer]]\n", b"=", b'"', b"[", b"]]", b"\n", b"#", b"'''", b"\\"])
        _case(cases, "mutations", job(), bytes(b))
    # random layer stacks with random keys (valid and invalid mixed)
    kinds = list(INT_KEYS) + ["shared", "residual", "normalize", "scale"]
    for _ in range(400):
        text = f"input = {rng.choice(['1', '2', '3', '4', '6', '8', '16'])}\n"
        for _ in range(rng.randint(1, 6)):
            kind = rng.choice(kinds)
            keys = {k: rng.choice(['1', '2', '3', '4', '0']) for k in rng.sample(INT_KEYS.get(kind, ["out"]),
                                                                                  k=rng.randint(0, len(INT_KEYS.get(kind, ["out"]))))}
            if kind == "activation":
                keys["name"] = rng.choice(['"relu"', '"tanh"', '"leaky_relu"', '"relu_power"', '"gelu"', '"nope"'])
            if kind == "normalize":
                keys["kind"] = rng.choice(['"l2"', '"layer"', '"batch"'])
            if kind == "shared":
                keys["pattern"] = rng.choice(["[[1, 0], [2, 1]]", "[[1]]", "[[0]]", "[[1, 2, 3]]", "[]"])
            text += _layer(kind if kind != "dense" or rng.random() < 0.9 else "Dense", **keys)
        q = rng.choice(["sum(W1**2)", "W1", "sum(v1**2)", "sum(u1**2) - sum(u2**2)", "a1", "trace(W1 @ W1.T)"])
        _case(cases, "stacks", rng.choice([_check(None, q), ["discover", "{SPEC}"]]), text)


def quantity_cases(rng: random.Random, cases: list) -> None:
    # token soup
    for _ in range(700):
        q = "".join(rng.choice(QUANTITY_TOKENS) for _ in range(rng.randint(1, 14)))
        _case(cases, "q-tokens", _check(None, q), BASE)
    # mutations of valid quantities
    seeds = [GOOD_Q, "W1 @ W1.T - W2.T @ W2", "sum(W1**2) - sum(W2**2)", "trace(W1.T @ W1)", "norm(W1)**2"]
    for _ in range(500):
        q = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(q) + 1)
            op = rng.random()
            if op < 0.4 and q:
                del q[min(pos, len(q) - 1)]
            elif op < 0.8:
                q.insert(pos, rng.choice("()[],:+-*/@.T0123456789ijWb *e"))
            else:
                q.insert(pos, rng.choice(QUANTITY_TOKENS))
        _case(cases, "q-mutations", _check(None, "".join(q)), BASE)
    # exponent and product bombs
    bombs = ["norm(W1)**16", "norm(W1)**100", "sum(W1)**64", "sum(W1)**65", "sum(W1)**1000000", "((W1**8)**8)**8",
             "(W1**8)**8", "W1**(60+60)", "W1**-65", "sum(W1**2)**32 - sum(W2**2)**32", "9**9**9", "2**100000",
             "2**2**2**2**2**2", "1e999*sum(W1)", "1e-999", "10**300*sum(W1)", "sqrt(2)**100000",
             "W1[0,0]**" + "9" * 30, "(" * 70 + "W1" + ")" * 70, "-" * 500 + "W1", "W1" + " + W1" * 400,
             "W1" + " @ W1.T @ W1" * 60, "sum(W1)" + "*sum(W1)" * 200, "exp(exp(exp(exp(sum(W1)))))",
             "log(0*W1[0,0])", "1/(W1[0,0]-W1[0,0])", "sqrt(-sum(W1**2))", "sum(W1)**(1/2)", "abs(W1)**0.5",
             "W1[i,j]*W1[j,k]*W1[k,l]*W1[l,m]*W1[m,n]", "W1[99,99]", "W1[-1,0]", "W1[i,i,i]", "W1[" + "0," * 300 + "0]",
             "x" * 2001, "sum(" * 100 + "W1" + ")" * 100, "(sum(W1[i,:]**2) + b1[i]**2 - sum(W2[:,i]**2))**64"]
    for q in bombs:
        for extra in ([], ["--method", "symbolic"], ["--method", "randomized"], ["--dynamics", "gd"],
                      ["--dynamics", "momentum"], ["--weight-decay", "lambda"]):
            _case(cases, "q-bombs", _check(None, q, *extra), BASE)
    # unicode, control characters, canaries
    for u in UNICODE:
        for q in (f"W1{u}", f"sum({u}W1)", f"W1[i{u},:]", u * 50, f"{u}" + GOOD_Q):
            _case(cases, "q-unicode", _check(None, q), BASE)
    for q in (CANARY, f"sum(W1) + {CANARY}", "W1.__class__", "W1.__dict__", "__builtins__", "eval('1')",
              "exec('1')", "open('x')", "W1; import os", "W1\nimport os", "lambda: W1", "[W1 for W1 in W1]",
              "{W1}", "W1 if W1 else W1", "`W1`", "$W1", "W1 and W1", "W1 == W1", "W1 < W1", "W1 % 2", "W1 // 2"):
        _case(cases, "q-unicode", _check(None, q), BASE)
    # bad option values of every job
    opts = {"--seed": ["-1", "1e3", "abc", "", "99999999999999999999", "0x10", " 1", "1.5", "nan"],
            "--budget": ["0", "-1", "abc", "1e9", "99999999999999999999", "", "nan", "inf"],
            "--workers": ["0", "-1", "1000", "abc", "", "1.5", "99999999999999999999"],
            "--weight-decay": ["1/0", "nan", "inf", "-inf", "a/b", "1e999", "", "lambda2", "1/3/4", "0x10", "--",
                               "1" * 50, "(1)", "1e-999"],
            "--timeout": ["0", "-1", "abc", "nan", "inf", "1e999", "", "1e9", "0.0"],
            "--points": ["0", "-1", "abc", "1000000000000"],
            "--dynamics": ["sgd", "", "FLOW", "flow;rm"], "--method": ["fast", "", "Symbolic"],
            "--increment": [CANARY, "G_W9", "eta**2*G_W1", "1/0", "", "eta" * 800],
            "--input-shape": ["4,3", "abc", "-1", ""]}
    jobs = {"check": _check(None, GOOD_Q), "discover": ["discover", "{SPEC}"],
            "audit": ["audit", "DU-10", "--quick", "--out", "{TMP}/a"], "prove": ["prove", "DU-1"],
            "all": ["all", "--out", "{TMP}/r"]}
    # Only options a job has; a valid value alone would start the whole job (seconds to minutes), so each
    # case carries one hostile value, and a second hostile option when the first would be accepted.
    blocker = {"check": ["--budget", "0"], "discover": ["--degree", "99"], "audit": ["--seed", "-1"],
               "prove": ["--workers", "0"], "all": ["--seed", "-1"]}
    has = {"check": {"--seed", "--budget", "--weight-decay", "--timeout", "--points", "--dynamics", "--method",
                     "--increment", "--input-shape"},
           "discover": {"--seed", "--budget", "--timeout", "--dynamics", "--input-shape"},
           "audit": {"--seed", "--workers", "--timeout"}, "prove": {"--workers", "--timeout"},
           "all": {"--seed", "--workers", "--timeout"}}
    for name, argv in jobs.items():
        for opt, values in opts.items():
            for v in values:
                extra = [opt, v] if opt in has[name] else [opt, v]
                _case(cases, "options", argv + extra + (blocker[name] if rng.random() < 0.5 else []), BASE)
                if opt in has[name]:
                    _case(cases, "options", argv + [f"{opt}={v}"] + blocker[name], BASE)
    for out in ["{FILE}", "{FILE}/sub", "/proc/1/x", "", "{TMP}/" + "n" * 300, "{TMP}/a\nb", "{TMP}/\x1b[31m",
                "/dev/null", "/proc/self/status"]:
        for argv in (["all", "--out", out, "--seed", "-1"], ["all", "--out", out, "--workers", "0"],
                     ["audit", "DU-10", "--quick", "--out", out] + (["--seed", "-1"] if out.startswith("{TMP}") else [])):
            _case(cases, "options", argv, BASE)
    for argv in (["audit", "DU-1"], ["audit", "JT-6"], ["prove", "JT-6"], ["prove", "XX-99"], ["audit", ""],
                 ["prove"], ["check"], ["discover"], [], ["nonsense"], ["--version"], ["list", "--json", "x"],
                 ["check", "{TMP}/missing.toml", "--quantity", "W1"], ["check", "{TMP}/a\nb.toml", "--quantity", "W1"],
                 ["check", "{TMP}", "--quantity", "W1"], ["check", "{FILE}", "--quantity", "W1"],
                 ["discover", "{SPEC}", "--degree", "-1"], ["discover", "{SPEC}", "--degree", "5"],
                 ["discover", "{SPEC}", "--friction", "1"], ["discover", "{SPEC}", "--tries", "0"],
                 ["discover", "{SPEC}", "--tries", "65"], ["check", "x.py:Net", "--quantity", "W1"]):
        _case(cases, "options", argv, BASE)


def build() -> list[dict]:
    rng = random.Random(SEED)
    _COUNTS.clear()
    cases: list[dict] = []
    spec_cases(rng, cases)
    quantity_cases(rng, cases)
    return cases


def render(cases: list[dict]) -> str:
    return "".join(json.dumps(c, ensure_ascii=True, sort_keys=True) + "\n" for c in cases)


def main(argv: list[str]) -> int:
    text = render(build())
    if "--check" in argv:
        same = CORPUS.exists() and CORPUS.read_text() == text
        print("corpus up to date" if same else f"{CORPUS} differs: run python tests/fuzz/make_corpus.py")
        return 0 if same else 1
    CORPUS.write_text(text)
    cases = build()
    specs = sum(not c["family"].startswith(("q-", "options")) for c in cases)
    print(f"{len(cases)} cases ({specs} hostile specs, {len(cases) - specs} quantities and option values) -> {CORPUS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
