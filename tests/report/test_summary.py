"""The end-of-run summary fits one screen: scalars in one table, per-map scores in a grid."""

from tsexplain.utils.rich_config import summary_tables


def _cells(table) -> list[list[str]]:
    return [list(col.cells) for col in table.columns]


def test_maps_become_grid_rows_and_bookkeeping_stays_off_screen():
    metrics = {"test/acc": 0.9, "test/f1": 0.8, "narrate/bleu4": 0.3, "explain/ms_per_instance": 1.5,
               "explain/auprc": 0.7, "explain/auprc_sem": 0.01, "explain/n_scored": 100, "explain/del_drop20": 0.4,
               "explain/del_auc_prob": 0.5, "explain_gradcam/auprc": 0.6, "explain_gradcam/pooled_aup": 0.2,
               "explain/params_total": 1000.0, "robust/sigma0.1/delta_auprc": -0.1}
    main, grid = summary_tables(metrics)
    keys = _cells(main)[0]
    assert keys == ["explain/ms_per_instance", "narrate/bleu4", "test/acc", "test/f1"]
    columns = _cells(grid)
    assert columns[0] == ["explainer", "gradcam"]
    header = [c.header for c in grid.columns]
    assert columns[header.index("AUPRC")] == ["0.700", "0.600"]
    assert columns[header.index("del@20")] == ["0.400", "–"]


def test_without_explanations_there_is_no_grid():
    assert len(summary_tables({"test/acc": 1.0, "test/loss": 0.1})) == 1
