"""The paper's numbers (docs/method.md, section 10), printed next to ours by `divcolor eval` and the model
cards. Keyed by our dataset names; the paper's own dataset is in "label"."""

PAPER_TABLE3 = {
    "faces": {"eob": 0.030, "var": 1.1e-3, "label": "LFW"},
    "churches": {"eob": 0.036, "var": 3.1e-4, "label": "Church"},
    "general": {"eob": 0.043, "var": 6.8e-4, "label": "ImageNet-Val"},
}
PAPER_TABLE1 = {"faces": 0.029, "churches": 0.023, "general": 0.039}  # all losses, MAE
PAPER_TABLE2 = {"faces": 2.65, "churches": 1.74, "general": 4.82}  # all losses, weighted MAE

# Table 3 of the paper (docs/method.md, section 10): method -> dataset -> (error-of-best, variance).
PAPER_T3 = {
    "cvae": {"faces": (0.031, 1.0e-4), "churches": (0.029, 2.2e-4), "general": (0.037, 2.5e-4)},
    "cgan": {"faces": (0.047, 8.4e-6), "churches": (0.048, 6.2e-6), "general": (0.048, 8.88e-6)},
    "ours": {k: (v["eob"], v["var"]) for k, v in PAPER_TABLE3.items()},
    "ours-skip": {"faces": (0.031, 4.4e-4), "churches": (0.036, 2.9e-4), "general": (0.041, 6.0e-4)},
}
