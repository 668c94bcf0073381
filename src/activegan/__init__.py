"""activegan: active learning on images, with pool ranking and GAN-synthesised queries.

Knowing when to stop without a test set (``activegan.stopping``), around any loop that asks, labels, trains:

    from activegan import AccuracyEstimate, StopSignal, class_probs, stop_set

    stop = stop_set(len(X_pool), seed=0)                  # unlabeled images to watch, drawn once
    estimate, signal = AccuracyEstimate(), StopSignal()
    for batch, labels in your_rounds():                   # each round's images and the labels a person gave
        estimate.record(class_probs(model, X_pool, batch), labels)   # the model before it learns them
        model = train(model, batch, labels)
        probs = class_probs(model, X_pool, stop)
        value, low, high = estimate.estimate(probs)       # accuracy now, with a 90 % interval
        kappa, done, reason = signal.update(probs.argmax(1), value)
        if done:                                          # reason: why, in words
            break
"""

from activegan.stopping import AccuracyEstimate, StopSignal, class_probs, cohen_kappa, stop_set

__version__ = "0.1.0"
__all__ = ["AccuracyEstimate", "StopSignal", "class_probs", "cohen_kappa", "stop_set", "__version__"]
