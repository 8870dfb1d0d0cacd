"""Sequence-level generalisation (SG): source sequential patterns and the fusion W_f.

Procedure (the paper leaves W_f's training open; this is ours):
1. After the backbone is trained (best validation state), encode every source user's validation
   input (all items but the last two) and run k-means (k = `clusters`, n_init=10, seeded) on these
   user states: the centroids are the sequential patterns (Eq. 16).
2. W_f is initialised to [I | 0], i.e. the identity on the user state, so SG starts as a no-op.
3. W_f alone is trained on the source domain, backbone and item projections frozen: each user's
   state from its training prefix (all but the last three items) is fused with its attended pattern
   and scored against the third-to-last item with the recommendation loss and sampled negatives.
4. After each of `pattern_epochs` epochs the fused states are ranked on the source validation
   items (the trainer's validation users); the best epoch (epoch 0, the identity, included) is kept.
   SG is applied only when scoring another domain (`Recommender.use_patterns`), never in-domain.
5. After each epoch a checkpoint (W_f, its optimiser, the best state and the sampling generator)
   is written, if asked for; a killed fit resumes from it to the weights an uninterrupted one gets.
   It records a digest of the frozen model (backbone, item projections, centroids), so a checkpoint
   of another model is never used.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.cluster import KMeans

from recg.io import save_torch
from recg.losses import REC_LOSSES, sample_negatives
from recg.provenance import settings_hash
from recg.ranking import user_vectors, validation_ndcg
from recg.sequences import pad, split_inputs
from recg.settings import resumable_settings

if TYPE_CHECKING:
    from recg.models import Recommender
    from recg.settings import TrainSettings


def cluster_users(users: np.ndarray, clusters: int, seed: int) -> np.ndarray:
    k = min(clusters, len(users))
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(users.astype(np.float64))
    centres = km.cluster_centers_.astype(np.float32)
    if k < clusters:
        centres = np.vstack([centres, np.repeat(centres[:1], clusters - k, axis=0)])
    return centres


def frozen_key(model: Recommender, settings: TrainSettings) -> str:
    """Digest of what W_f's fit reads but does not change: the rest of the model and the settings."""
    digest = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        if not name.startswith("patterns.fuse."):
            digest.update(name.encode())
            digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return settings_hash({"model": digest.hexdigest(), "settings": resumable_settings(settings)})


def _load_checkpoint(
    path: str | os.PathLike | None, key: str, device: torch.device, log: Callable[[str], None]
) -> dict[str, Any] | None:
    if not path or not Path(path).exists():
        return None
    state = torch.load(path, map_location=device, weights_only=True)
    if state.get("key") != key:
        log(f"SG: ignoring {path}: written for another model or other settings")
        return None
    return state


def fit_pattern_fusion(
    model: Recommender,
    sequences: Sequence[np.ndarray],
    settings: TrainSettings,
    log: Callable[[str], None] = print,
    val_sequences: Sequence[np.ndarray] | None = None,
    checkpoint: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Fit centroids and W_f in place on `model.patterns`; return a summary for config.json.

    `val_sequences` (default: all) are the source users W_f is selected on; with `checkpoint`, a
    state is saved there after every epoch and a matching one found there is resumed (the caller
    removes it once the model is written).
    """
    fusion = model.patterns
    assert fusion is not None
    val_sequences = sequences if val_sequences is None else val_sequences
    frozen = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        all_users = user_vectors(model, split_inputs(sequences, "valid", model.max_items)[0])
        fusion.centroids.copy_(
            torch.from_numpy(
                cluster_users(all_users.cpu().numpy(), fusion.centroids.shape[0], settings.seed)
            )
        )
        val_users = user_vectors(model, split_inputs(val_sequences, "valid", model.max_items)[0])

        usable = [s for s in sequences if len(s) >= 4]
        train_users = user_vectors(model, pad([s[:-3][-model.max_items :] for s in usable]))
        targets = torch.tensor([s[-3] for s in usable], dtype=torch.long, device=model.device)
        with torch.inference_mode():
            item_vectors = model.items.outputs()

        params = list(fusion.fuse.parameters())
        for p in params:
            p.requires_grad_(True)
        optimizer = torch.optim.Adam(params, lr=settings.pattern_lr)
        loss_fn = REC_LOSSES[settings.loss]
        generator = torch.Generator().manual_seed(settings.seed)
        key = frozen_key(model, settings)
        saved = _load_checkpoint(checkpoint, key, model.device, log)
        if saved is None:
            with torch.no_grad():
                best = validation_ndcg(model, val_sequences, fusion(val_users))
            best_state, best_epoch, start, done = copy.deepcopy(fusion.state_dict()), 0, best, 0
        else:
            fusion.load_state_dict(saved["fusion"])
            optimizer.load_state_dict(saved["optimizer"])
            generator.set_state(saved["generator"].cpu())
            best_state, best_epoch = saved["best_state"], saved["best_epoch"]
            best, start, done = saved["best"], saved["start"], saved["epoch"]
            log(f"SG: resumed W_f from {checkpoint} after epoch {done}")
        for epoch in range(done + 1, settings.pattern_epochs + 1):
            order = torch.randperm(len(usable), generator=generator).to(model.device)
            for lo in range(0, len(order), settings.batch_size):
                idx = order[lo : lo + settings.batch_size]
                fused = fusion(train_users[idx])
                pos_items = targets[idx]
                neg_items = sample_negatives(
                    pos_items, model.items.n_items, settings.negatives, generator
                )
                pos = (fused * item_vectors[pos_items]).sum(-1)
                neg = torch.einsum("bh,bnh->bn", fused, item_vectors[neg_items])
                loss = loss_fn(pos, neg)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                score = validation_ndcg(model, val_sequences, fusion(val_users))
            if score > best:
                best, best_epoch, best_state = score, epoch, copy.deepcopy(fusion.state_dict())
            if checkpoint:
                save_torch(
                    {
                        "key": key,
                        "epoch": epoch,
                        "fusion": fusion.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "generator": generator.get_state(),
                        "best_state": best_state,
                        "best_epoch": best_epoch,
                        "best": best,
                        "start": start,
                    },
                    checkpoint,
                )
            log(f"SG: W_f epoch {epoch}: source val NDCG@10 {score:.4f}")
        fusion.load_state_dict(best_state)
    finally:
        for p, flag in zip(model.parameters(), frozen, strict=True):
            p.requires_grad_(flag)
    log(
        f"SG: {fusion.centroids.shape[0]} patterns; W_f best epoch {best_epoch} "
        f"(source val NDCG@10 {start:.4f} -> {best:.4f})"
    )
    return {
        "clusters": int(fusion.centroids.shape[0]),
        "best_epoch": best_epoch,
        "val_ndcg10_identity": start,
        "val_ndcg10": best,
    }
