"""Robustness of features under image perturbation (Zwanenburg et al., Sci. Rep. 2019): perturbed
cases (perturb.py), the ICC(1,1) of each feature across patients (icc.py), and the study that runs
them through the batch runner (study.py) behind `radiomics-ssl-robustness` (cli.py)."""
