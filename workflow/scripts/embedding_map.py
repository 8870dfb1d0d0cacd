"""t-SNE map of the items of every domain: raw embeddings, -Sem's and -RecG's input spaces."""

from recg.figures import plot_embedding_map
from recg.report import MODEL_NAMES
from recg.runner import run_rule
from recg.spaces import item_spaces


def main(sm, log):
    w = sm.wildcards
    name = MODEL_NAMES.get(w.model, w.model)
    spaces = item_spaces(
        dict(zip(sm.params.domains, sm.input.embeddings, strict=True)),
        dict(zip(sm.params.domains, sm.input.item_tables, strict=True)),
        {
            f"{name}-Sem projection W_p": (sm.input.sem_model, sm.input.sem_config),
            f"{name}-RecG merged projection": (sm.input.recg_model, sm.input.recg_config),
        },
    )
    title = f"Items of every domain, {name}-Sem and -RecG trained on {w.source} (t-SNE)"
    plot_embedding_map(spaces, sm.output[0], title, sm.params.per_domain, sm.params.seed)
    log(f"{sum(len(v) for v in spaces['raw LLM embeddings'].values())} items mapped")


run_rule(snakemake, main)
