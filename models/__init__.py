"""The multimodal QA classifier: spectrogram-image branch (:mod:`models.image`) + text branch
(:mod:`models.text`) -> fused heads per label (:mod:`models.fusion`); its inputs from the stored per-call
features (:mod:`models.data`, reading :mod:`qc.call_features`), training (:mod:`models.train`),
cross-validation (:mod:`models.crossval`), evaluation (:mod:`models.evaluate`), artifacts on disk
(:mod:`models.registry`) and scoring (:mod:`models.score`). Nothing here reads or writes the
warehouse: :mod:`flows.scoring` and :mod:`flows.training` join a model with it."""
