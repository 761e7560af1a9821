"""The multimodal QA classifier: spectrogram-image branch (:mod:`models.image`) + text branch
(:mod:`models.text`) -> fused heads per label (:mod:`models.fusion`); stored per-call features
(:mod:`qc.call_features`), training (:mod:`models.train`), evaluation (:mod:`models.evaluate`), the model
registry (:mod:`models.registry`), scoring (:mod:`models.score`) and one retraining run
(:mod:`models.retrain`)."""
