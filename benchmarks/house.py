"""The house drawn from the imports: arrows that run back up a layer or across wings, and the largest
functions, for a checkout of radiomics_ssl (this one, or an earlier release to compare).

  python benchmarks/house.py [REPO]

Layers, bottom up: config, tables, units; preprocess, model, weights, perturb, dicom, cases,
datasets, diversity; inference; extract; and the wings train, evaluate, inspect, robustness, which
import downwards only. Imports inside functions count.
"""
import ast
import sys
from pathlib import Path

LAYERS = [("config", "tables", "units"), ("preprocess", "model", "weights", "perturb", "dicom", "cases", "datasets",
                                            "diversity"), ("inference",), ("extract",),
          ("train", "evaluate", "inspect", "robustness")]
WINGS = LAYERS[-1]


def part(module):
  """'radiomics_ssl.extract.row' -> 'extract'; the package itself -> ''."""
  parts = module.split(".")
  return parts[1] if len(parts) > 1 else ""


def layer(module):
  """The layer of a module (the package itself is at the bottom)."""
  return next((i for i, names in enumerate(LAYERS) if part(module) in names), 0)


def modules(root):
  """{dotted name: path} of every module under root/radiomics_ssl."""
  found = {}
  for path in sorted((Path(root) / "radiomics_ssl").rglob("*.py")):
    name = ".".join(path.relative_to(root).with_suffix("").parts)
    found[name[:-len(".__init__")] if name.endswith(".__init__") else name] = path
  return found


def imported(tree, known):
  """The radiomics_ssl modules a module's code imports, anywhere in it."""
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("radiomics_ssl"):
      yield from (name for name in [node.module] + [f"{node.module}.{a.name}" for a in node.names] if name in known)
    elif isinstance(node, ast.Import):
      yield from (a.name for a in node.names if a.name in known)


def main():
  root = sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[1])
  known = modules(root)
  arrows, functions = set(), []
  for name, path in known.items():
    tree = ast.parse(path.read_text())
    for target in imported(tree, known):
      wing = {part(name), part(target)} <= set(WINGS) and part(name) != part(target)
      if target != name and not name.startswith(target + ".") and (layer(target) > layer(name) or wing):
        arrows.add(f"{name} -> {target}")
    functions += [(node.end_lineno - node.lineno + 1, f"{name}.{node.name}") for node in ast.walk(tree)
                  if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
  print(f"{len(known)} modules; {len(arrows)} arrow(s) back up a layer or across wings:")
  for arrow in sorted(arrows):
    print(f"  {arrow}")
  print("largest functions: " + ", ".join(f"{name} ({lines} lines)" for lines, name in sorted(functions, reverse=True)[:3]))


if __name__ == "__main__":
  main()
