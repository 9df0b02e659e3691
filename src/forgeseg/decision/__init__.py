"""The decision side: from the matchers' and the network's evidence to instances or
``authentic``, and the calibration of that step on val figures.

:mod:`.detector` runs the matchers and the network on a figure (:class:`Detector`),
:mod:`.rules` turns evidence into an answer (:func:`decide`), :mod:`.calibration` picks the
rule's settings on val, :mod:`.instances` groups a pixel map into source+copy instances.
"""
