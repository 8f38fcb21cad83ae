"""Where Demucs weights are looked for, none of it touching the network.

demucs' own ``get_model`` asks the Hugging Face hub first and retries for half a minute when the
machine is offline, then tries the legacy download; so songlake looks in the two caches those
downloads fill, with demucs' own loaders, before it lets ``get_model`` near the network, and
only when the hub answers a quick connection.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import yaml
from demucs import pretrained
from demucs.apply import BagOfModels
from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name, load_safetensors_model
from demucs.repo import AnyModel, AnyModelRepo, BagOnlyRepo, LocalRepo, ModelLoadingError

HUB_HOST = "huggingface.co"
PROBE_SECONDS = 3.0


def hf_repo_id(name: str) -> tuple[str, str]:
    """(Hugging Face repository, model name) as demucs.hf names them: htdemucs -> adefossez/HTDemucs."""
    namespace, model = name.split("/", 1) if "/" in name else (DEFAULT_NAMESPACE, name)
    return f"{namespace}/{hf_repo_name(model)}", model


def hf_cache_folder() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def torch_hub_folder() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def from_hf_cache(name: str) -> AnyModel | None:
    """The bag from the Hugging Face cache (what demucs.hf.get_hf_model downloads), or None."""
    from huggingface_hub import try_to_load_from_cache

    repo_id, model = hf_repo_id(name)
    bag_file = try_to_load_from_cache(repo_id, f"{model}.yaml")
    if not isinstance(bag_file, str):
        return None
    bag = yaml.safe_load(Path(bag_file).read_text())
    files = [try_to_load_from_cache(repo_id, f"{sig}.safetensors") for sig in bag["models"]]
    if not all(isinstance(file, str) for file in files):
        return None
    return BagOfModels([load_safetensors_model(file) for file in files], bag.get("weights"), bag.get("segment"))


def from_torch_hub_cache(name: str) -> AnyModel | None:
    """The model from torch hub's checkpoints (demucs' legacy download), with the bag
    definitions demucs ships, or None."""
    folder = torch_hub_folder()
    if not folder.is_dir():
        return None
    try:
        models = LocalRepo(folder)
        return AnyModelRepo(models, BagOnlyRepo(pretrained.REMOTE_ROOT, models)).get_model(name)
    except ModelLoadingError:
        return None


def hub_reachable() -> bool:
    """Whether a download could work: HF_HUB_OFFLINE unset and the hub answers within seconds."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return False
    try:
        socket.create_connection((HUB_HOST, 443), timeout=PROBE_SECONDS).close()
    except OSError:
        return False
    return True
