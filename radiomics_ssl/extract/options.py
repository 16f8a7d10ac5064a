"""The command-line options every command on the batch runner shares (radiomics-ssl-inspect,
radiomics-ssl-robustness): the cases, the parameter file, the output folder and the overrides,
named and explained as pyradiomicsssl names them."""
import logging

import click


def batch_command(out_default, param_help="pyradiomics parameter file (as for pyradiomicsssl)."):
  """CASES_CSV, --param, --out (default `out_default`) and --setting, in that order."""
  options = [
    click.argument("cases_csv", type=click.Path(exists=True, dir_okay=False)),
    click.option("--param", "param_file", required=True, type=click.Path(exists=True, dir_okay=False), help=param_help),
    click.option("--out", "out_dir", default=out_default, show_default=True, type=click.Path(file_okay=False)),
    click.option("--setting", "settings", multiple=True, help="KEY:VALUE override, as pyradiomicsssl's --setting."),
  ]

  def decorate(function):
    for option in reversed(options):
      function = option(function)
    return click.command(context_settings={"help_option_names": ["-h", "--help"]})(function)

  return decorate


def configure_logging():
  """Warnings and errors, one line each: pyradiomics' own logger logs every case's steps at INFO,
  which reached the console through the root handler (a stray 'Loading parameter file' line)."""
  logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
  logging.getLogger("radiomics").setLevel(logging.WARNING)
