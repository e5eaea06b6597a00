"""cnncourse.metrics: segmentation, box, detection and pose measures.

Each measure is checked on small cases worked out by hand and against an established
implementation: scikit-learn for the confusion matrix, IoU per class and pixel accuracy, and
pycocotools (COCO's own evaluation code) for mAP of boxes and masks. The tests that need
pycocotools skip without it.
"""

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, jaccard_score
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

from cnncourse import metrics
from cnncourse.data.scenes import JOINTS
from cnncourse.metrics import (COCO_IOU_THRESHOLDS, average_precision, average_precision_table,
                               box_area, box_iou, boxes_to_centres, centres_to_boxes,
                               confusion_matrix, decode_boxes, decode_grid, encode_boxes,
                               encode_grid, gaussian_heatmaps, heatmap_peaks, iou_per_class,
                               mask_iou, match_detections, mean_average_precision, mean_iou, nms,
                               pck, pixel_accuracy)


# --------------------------------------------------------------------------- segmentation
def test_confusion_matrix_mean_iou_and_pixel_accuracy_by_hand():
    truth = np.array([[0, 0, 1, 1], [0, 2, 2, 1]])
    predicted = np.array([[0, 1, 1, 1], [0, 2, 0, 1]])
    confusion = confusion_matrix(predicted, truth, num_classes=4)
    expected = np.zeros((4, 4), np.int64)
    expected[0, 0], expected[0, 1] = 2, 1  # three true 0: two right, one called 1
    expected[1, 1] = 3
    expected[2, 2], expected[2, 0] = 1, 1
    np.testing.assert_array_equal(confusion, expected)
    # IoU: class 0: 2 / (3 + 3 - 2) = 1/2; class 1: 3 / (3 + 4 - 3) = 3/4; class 2: 1/2;
    # class 3 is absent from both and left out of the mean
    per_class = iou_per_class(confusion)
    np.testing.assert_allclose(per_class[:3], [0.5, 0.75, 0.5])
    assert np.isnan(per_class[3])
    assert mean_iou(predicted, truth, num_classes=4) == pytest.approx((0.5 + 0.75 + 0.5) / 3)
    assert pixel_accuracy(predicted, truth) == pytest.approx(6 / 8)


def test_scores_with_a_class_axis_are_turned_into_labels_and_tensors_are_accepted():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, (3, 5, 6))
    scores = rng.normal(size=(3, 4, 5, 6))
    labels = scores.argmax(axis=1)
    assert mean_iou(scores, truth) == mean_iou(labels, truth, num_classes=4)
    assert pixel_accuracy(torch.from_numpy(scores), torch.from_numpy(truth)) == \
        pixel_accuracy(labels, truth)
    assert pixel_accuracy(scores, truth) == pytest.approx(metrics.accuracy(scores, truth))


@pytest.mark.parametrize("seed", range(6))
def test_segmentation_measures_match_scikit_learn_on_random_labels(seed):
    rng = np.random.default_rng(seed)
    classes = 6
    truth = rng.integers(0, classes - 1, (4, 9, 11))  # the last class never true ...
    predicted = np.where(rng.random(truth.shape) < 0.6, truth, rng.integers(0, classes - 1, truth.shape))
    predicted[predicted == 2] = 3  # ... and class 2 never predicted; class 5 absent from both
    confusion = confusion_matrix(predicted, truth, num_classes=classes)
    np.testing.assert_array_equal(confusion, sklearn_confusion_matrix(
        truth.ravel(), predicted.ravel(), labels=np.arange(classes)))
    present = np.union1d(truth, predicted)
    oracle = jaccard_score(truth.ravel(), predicted.ravel(), labels=present, average=None)
    np.testing.assert_allclose(iou_per_class(confusion)[present], oracle, rtol=1e-12)
    assert np.isnan(iou_per_class(confusion)[5])
    assert mean_iou(predicted, truth, classes) == pytest.approx(oracle.mean(), rel=1e-12)
    assert pixel_accuracy(predicted, truth) == pytest.approx(
        accuracy_score(truth.ravel(), predicted.ravel()), rel=1e-12)


def test_ignore_index_leaves_pixels_out_and_batches_add_up():
    truth = np.array([[0, 1, 255], [1, 255, 0]])
    predicted = np.array([[0, 1, 1], [0, 0, 0]])
    assert pixel_accuracy(predicted, truth, ignore_index=255) == pytest.approx(3 / 4)
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 3, (2, 2, 8, 8))
    pa, pb = rng.integers(0, 3, (2, 2, 8, 8))
    total = confusion_matrix(pa, a, 3) + confusion_matrix(pb, b, 3)
    both = confusion_matrix(np.concatenate([pa, pb]), np.concatenate([a, b]), 3)
    np.testing.assert_array_equal(total, both)
    assert np.nanmean(iou_per_class(total)) == pytest.approx(
        mean_iou(np.concatenate([pa, pb]), np.concatenate([a, b]), 3))


def test_segmentation_errors_name_the_argument():
    with pytest.raises(ValueError, match="predictions"):
        mean_iou(np.zeros((2, 3), int), np.zeros((2, 4), int))
    with pytest.raises(TypeError, match="targets"):
        mean_iou(np.zeros((2, 3), int), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="targets must hold labels in 0 .. 1"):
        confusion_matrix(np.zeros(3, int), np.array([0, 1, 2]), num_classes=2)
    with pytest.raises(ValueError, match="all were ignored"):
        pixel_accuracy(np.zeros(3, int), np.full(3, 255), ignore_index=255)
    with pytest.raises(ValueError, match="square"):
        iou_per_class(np.zeros((2, 3)))


# --------------------------------------------------------------------------- boxes
def test_box_iou_by_hand():
    a = np.array([[0, 0, 2, 2], [0, 0, 4, 4], [10, 10, 10, 12]])
    b = np.array([[1, 1, 3, 3], [1, 1, 2, 2], [5, 5, 6, 6]])
    iou = box_iou(a, b)
    assert iou.shape == (3, 3)
    assert iou[0, 0] == pytest.approx(1 / 7)  # overlap 1, union 4 + 4 - 1
    assert iou[0, 1] == pytest.approx(1 / 4)  # contained: 1 / 4
    assert iou[1, 1] == pytest.approx(1 / 16)
    assert iou[0, 2] == 0 and iou[1, 2] == 0  # disjoint
    assert (iou[2] == 0).all()  # an empty box overlaps nothing
    np.testing.assert_allclose(box_iou(b, a), iou.T)
    np.testing.assert_allclose(box_area(a), [4, 16, 0])
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 3)


def test_mask_iou_equals_box_iou_for_masks_drawn_from_integer_boxes():
    rng = np.random.default_rng(2)
    corners = rng.integers(0, 20, (7, 2, 2))
    boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1) + 1], axis=1)
    ys, xs = np.mgrid[:24, :24]
    masks = ((xs >= boxes[:, 0, None, None]) & (xs < boxes[:, 2, None, None])
             & (ys >= boxes[:, 1, None, None]) & (ys < boxes[:, 3, None, None]))
    np.testing.assert_allclose(mask_iou(masks[:4], masks[4:]), box_iou(boxes[:4], boxes[4:]))
    assert mask_iou(np.zeros((1, 3, 3), bool), np.zeros((1, 3, 3), bool))[0, 0] == 0


def test_box_codings_round_trip_and_match_hand_values():
    boxes = np.array([[10.0, 20.0, 30.0, 60.0], [3.0, 4.0, 5.5, 9.0]])
    np.testing.assert_allclose(boxes_to_centres(boxes), [[20, 40, 20, 40], [4.25, 6.5, 2.5, 5.0]])
    np.testing.assert_allclose(centres_to_boxes(boxes_to_centres(boxes)), boxes)
    anchors = np.array([[0.0, 0.0, 10.0, 20.0], [2.0, 2.0, 7.0, 12.0]])
    deltas = encode_boxes(boxes, anchors)
    # first box: centre (20, 40) against the anchor's (5, 10), size (20, 40) against (10, 20)
    np.testing.assert_allclose(deltas[0], [15 / 10, 30 / 20, np.log(2), np.log(2)])
    np.testing.assert_allclose(decode_boxes(deltas, anchors), boxes)
    cells, offsets, sizes = encode_grid(boxes, stride=4)
    np.testing.assert_array_equal(cells, [[5, 10], [1, 1]])
    np.testing.assert_allclose(offsets, [[0.0, 0.0], [4.25 / 4 - 1, 6.5 / 4 - 1]])
    np.testing.assert_allclose(sizes, [[20, 40], [2.5, 5.0]])
    np.testing.assert_allclose(decode_grid(cells, offsets, sizes, 4), boxes)
    assert ((offsets >= 0) & (offsets < 1)).all()
    with pytest.raises(ValueError, match="positive widths"):
        encode_boxes(np.array([[0, 0, 0, 5]]), np.array([[0, 0, 1, 1]]))
    with pytest.raises(ValueError, match="boxes1 must have shape"):
        box_iou(np.zeros((2, 3)), np.zeros((1, 4)))


def test_gaussian_heatmaps_peak_at_their_points_and_decode_back():
    points = np.array([[[10.0, 20.0], [33.0, 5.0], [0.0, 0.0]]])
    visible = np.array([[True, True, False]])
    maps = gaussian_heatmaps(points, 40, stride=4, sigma=1.0, visible=visible)
    assert maps.shape == (1, 3, 10, 10) and maps.dtype == np.float32
    # point (10, 20): the centres of cells (row 4, col 2) and (5, 2) are (10, 18) and (10, 22),
    # 2 pixels = half a cell away: exp(-0.5^2 / 2) on both
    assert maps[0, 0, 4, 2] == pytest.approx(np.exp(-0.125), rel=1e-6)
    assert maps[0, 0, 5, 2] == pytest.approx(np.exp(-0.125), rel=1e-6)
    assert maps[0, 0].max() == maps[0, 0, 4, 2]
    assert (maps[0, 2] == 0).all()  # invisible: an empty map
    found, scores = heatmap_peaks(maps[0, :2], stride=4)
    # the first peak is the tie's first cell (4, 2), moved a quarter cell down towards its equal
    # neighbour: (10, 19); the second, cell (1, 8) centred on (34, 6), moves a quarter cell left
    # and up, onto the point (33, 5) itself
    np.testing.assert_allclose(found, [[10.0, 19.0], [33.0, 5.0]])
    np.testing.assert_allclose(scores, [np.exp(-0.125), np.exp(-2 / 32)], rtol=1e-6)
    one = gaussian_heatmaps(np.array([[14.0, 6.0]]), (16, 32), stride=1, sigma=2.0)
    assert one.shape == (1, 16, 32)
    assert one[0, 5, 13] == pytest.approx(np.exp(-(0.5**2 + 0.5**2) / 8), rel=1e-6)
    found, score = heatmap_peaks(one)
    assert abs(found[0, 0] - 14.0) <= 0.25 and abs(found[0, 1] - 6.0) <= 0.25


# --------------------------------------------------------------------------- NMS
def test_nms_by_hand():
    boxes = np.array([[0, 0, 10, 10],      # 0: best
                      [1, 0, 11, 10],      # 1: IoU 90/110 with 0 -> suppressed
                      [20, 20, 30, 30],    # 2: far away -> kept
                      [5, 0, 15, 10],      # 3: IoU 50/150 = 1/3 with 0 -> kept at 0.5
                      [21, 21, 31, 31]])   # 4: IoU 81/119 with 2 -> suppressed
    scores = np.array([0.9, 0.8, 0.7, 0.95, 0.6])
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [3, 0, 2])
    # box 3 (0.95) overlaps box 1 by 60/140: at 0.3 it suppresses box 0 too (IoU 1/3 > 0.3)
    np.testing.assert_array_equal(nms(boxes, scores, 0.3), [3, 2])
    # per class: box 1 has its own class and is not suppressed by box 0
    labels = np.array([0, 1, 0, 2, 0])
    np.testing.assert_array_equal(nms(boxes, scores, 0.5, labels), [3, 0, 1, 2])
    # an IoU equal to the threshold does not suppress
    square = np.array([[0, 0, 2, 1], [1, 0, 3, 1]])  # IoU 1/3
    np.testing.assert_array_equal(nms(square, [1.0, 0.5], 1 / 3), [0, 1])
    assert nms(np.zeros((0, 4)), np.zeros(0)).size == 0
    with pytest.raises(ValueError, match="scores must hold one score per box"):
        nms(boxes, scores[:3])


def _nms_by_definition(boxes, scores, threshold, labels):
    """A box survives when no surviving box of its class ranked before it overlaps it above the
    threshold (the definition, written out pair by pair)."""
    ranked = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    kept = []
    for i in ranked:
        x0, y0, x1, y1 = boxes[i]
        survives = True
        for j in kept:
            if labels is not None and labels[i] != labels[j]:
                continue
            a0, b0, a1, b1 = boxes[j]
            inter = max(0.0, min(x1, a1) - max(x0, a0)) * max(0.0, min(y1, b1) - max(y0, b0))
            union = (x1 - x0) * (y1 - y0) + (a1 - a0) * (b1 - b0) - inter
            if inter / union > threshold:
                survives = False
                break
        if survives:
            kept.append(i)
    return kept


@pytest.mark.parametrize("seed", range(5))
def test_nms_agrees_with_its_definition_on_random_boxes(seed):
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0, 40, (60, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(4, 15, (60, 2))], axis=1)
    scores = rng.random(60)
    labels = rng.integers(0, 3, 60)
    for threshold in (0.2, 0.5, 0.7):
        assert nms(boxes, scores, threshold).tolist() == _nms_by_definition(boxes, scores, threshold, None)
        assert nms(boxes, scores, threshold, labels).tolist() == \
            _nms_by_definition(boxes, scores, threshold, labels)


# --------------------------------------------------------------------------- average precision
def test_average_precision_of_a_ranked_list_by_hand():
    # ranked: hit, miss, hit, miss with 3 true objects. Recall 1/3, 1/3, 2/3, 2/3; precision
    # 1, 1/2, 2/3, 1/2, made non-increasing: 1, 2/3, 2/3, 1/2. The 34 recalls 0 .. 0.33 get 1,
    # the 33 recalls 0.34 .. 0.66 get 2/3, the 34 recalls from 0.67 are never reached: 0.
    assert average_precision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0], 3) == pytest.approx(56 / 101)
    # the order comes from the scores, not from the input order
    assert average_precision([0.6, 0.7, 0.8, 0.9], [0, 1, 0, 1], 3) == pytest.approx(56 / 101)
    assert average_precision([0.9, 0.5], [1, 1], 2) == 1.0
    assert average_precision([0.9, 0.5], [0, 0], 2) == 0.0
    assert average_precision([], [], 4) == 0.0
    # a miss ranked first: precision 1/2 everywhere
    assert average_precision([0.9, 0.8], [0, 1], 1) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="num_truth"):
        average_precision([0.9], [1], 0)


def test_matching_takes_each_true_object_once_by_score_order():
    overlaps = np.array([[0.9, 0.1],     # detection 0 -> object 0
                         [0.8, 0.0],     # duplicate of object 0 -> false positive
                         [0.6, 0.6]])    # tie between the objects: 0 is taken, 1 is left
    np.testing.assert_array_equal(match_detections(overlaps, 0.5), [True, False, True])
    np.testing.assert_array_equal(match_detections(overlaps, 0.85), [True, False, False])
    tie = np.array([[0.7, 0.7]])  # a tie goes to the later object, as in pycocotools
    assert match_detections(np.vstack([tie, [[0.0, 0.65]]]), 0.6).tolist() == [True, False]


def test_mean_average_precision_by_hand():
    targets = [{"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "labels": [0, 0]},
               {"boxes": [[0, 0, 10, 10]], "labels": [1]}]
    predictions = [{"boxes": [[0, 0, 10, 10], [21, 20, 31, 30], [50, 50, 60, 60]],
                    "scores": [0.9, 0.8, 0.95], "labels": [0, 0, 0]},
                   {"boxes": [[0, 0, 10, 9]], "scores": [0.5], "labels": [1]}]
    # class 0 ranked: miss (0.95), hit (IoU 1), then the shifted box, IoU 90/110 = 0.818...
    # class 1: one box, IoU 0.9 with the truth
    table, classes = average_precision_table(predictions, targets, iou_thresholds=[0.5, 0.85])
    assert classes.tolist() == [0, 1]
    # t = 0.5, class 0: precision 0, 1/2, 2/3 at recall 0, 1/2, 1 -> 2/3 on all 101 recalls
    assert table[0, 0] == pytest.approx(2 / 3)
    assert table[0, 1] == 1.0
    # t = 0.85: the shifted box misses; recall 1/2 with precision 1/2 on the 51 recalls <= 0.5
    assert table[1, 0] == pytest.approx(0.5 * 51 / 101)
    assert table[1, 1] == 1.0
    assert mean_average_precision(predictions, targets, 0.5) == pytest.approx((2 / 3 + 1) / 2)
    # a class with detections and no truth has no AP and is left out
    predictions[1]["labels"] = [2]
    table, classes = average_precision_table(predictions, targets, 0.5)
    assert classes.tolist() == [0, 1, 2] and table[0, 1] == 0.0 and np.isnan(table[0, 2])


def test_detection_inputs_are_checked():
    good = [{"boxes": np.zeros((0, 4)), "labels": np.zeros(0, int)}]
    with pytest.raises(ValueError, match="scores"):
        mean_average_precision(good, good)
    with pytest.raises(TypeError, match="sequence of dicts"):
        mean_average_precision({"boxes": []}, good)
    with pytest.raises(ValueError, match="iou_type"):
        mean_average_precision(good, good, iou_type="segm")
    pred = [{"boxes": np.zeros((2, 4)), "labels": [0], "scores": [0.1, 0.2]}]
    with pytest.raises(ValueError, match="1 labels but 2 boxes"):
        mean_average_precision(pred, good)
    with pytest.raises(ValueError, match="at least one true object"):
        mean_average_precision([{"boxes": np.zeros((0, 4)), "labels": [], "scores": []}], good)


# --------------------------------------------------------------------------- against pycocotools
def _random_case(rng, images=6, classes=3, size=48, masks=False):
    """Random truths and detections: jittered copies of the truths (good, poor, duplicated,
    missing) and false alarms, with distinct random scores."""
    targets, predictions = [], []
    for _ in range(images):
        k = rng.integers(0, 6)
        corner = rng.uniform(0, size - 16, (k, 2))
        truth = np.concatenate([corner, corner + rng.uniform(4, 16, (k, 2))], axis=1)
        labels = rng.integers(0, classes, k)
        boxes, plabels = [], []
        for box, label in zip(truth, labels):
            for _ in range(rng.choice([0, 1, 1, 1, 2])):
                boxes.append(box + rng.normal(0, rng.choice([0.3, 1.5, 4.0]), 4))
                plabels.append(label if rng.random() < 0.9 else rng.integers(0, classes))
        for _ in range(rng.integers(0, 4)):
            corner = rng.uniform(0, size - 16, 2)
            boxes.append(np.concatenate([corner, corner + rng.uniform(4, 16, 2)]))
            plabels.append(rng.integers(0, classes))
        boxes = np.array(boxes, float).reshape(-1, 4)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        target = {"boxes": truth, "labels": labels}
        prediction = {"boxes": boxes, "labels": np.array(plabels, int), "scores": rng.random(len(boxes))}
        if masks:
            ys, xs = np.mgrid[:size, :size] + 0.5
            for item in (target, prediction):
                b = item["boxes"]
                ellipse = (((xs - (b[:, 0, None, None] + b[:, 2, None, None]) / 2)
                            / ((b[:, 2, None, None] - b[:, 0, None, None]) / 2)) ** 2
                           + ((ys - (b[:, 1, None, None] + b[:, 3, None, None]) / 2)
                              / ((b[:, 3, None, None] - b[:, 1, None, None]) / 2)) ** 2)
                item["masks"] = ellipse <= 1.0
        targets.append(target)
        predictions.append(prediction)
    if not any(len(p["labels"]) for p in predictions):  # COCO needs one detection at least
        predictions[0] = {key: value for key, value in targets[0].items()}
        predictions[0]["scores"] = rng.random(len(targets[0]["labels"]))
    return predictions, targets


def _coco_precision(predictions, targets, iou_type, size, max_detections=100):
    """COCOeval's precision array ``(T, R, K)`` for the area range "all"."""
    coco = pytest.importorskip("pycocotools.coco")
    cocoeval = pytest.importorskip("pycocotools.cocoeval")
    mask_utils = pytest.importorskip("pycocotools.mask")

    def region(item, k):
        if iou_type == "bbox":
            x0, y0, x1, y1 = (float(v) for v in item["boxes"][k])
            return {"bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0)}
        rle = mask_utils.encode(np.asfortranarray(item["masks"][k].astype(np.uint8)))
        return {"segmentation": rle, "area": float(mask_utils.area(rle))}

    labels = sorted({int(v) for item in predictions + targets for v in item["labels"]})
    truth = {"images": [{"id": i + 1, "height": size, "width": size} for i in range(len(targets))],
             "categories": [{"id": c + 1} for c in labels], "annotations": []}
    results = []
    for i, (prediction, target) in enumerate(zip(predictions, targets)):
        for k, label in enumerate(target["labels"]):
            truth["annotations"].append(dict(region(target, k), id=len(truth["annotations"]) + 1,
                                             image_id=i + 1, category_id=int(label) + 1, iscrowd=0))
        for k, label in enumerate(prediction["labels"]):
            results.append(dict(region(prediction, k), image_id=i + 1, category_id=int(label) + 1,
                                score=float(prediction["scores"][k])))
    ground = coco.COCO()
    ground.dataset = truth
    ground.createIndex()
    evaluation = cocoeval.COCOeval(ground, ground.loadRes(results), iou_type)
    evaluation.params.maxDets = [1, 2, max_detections]  # COCOeval sorts them: keep the last last
    evaluation.evaluate()
    evaluation.accumulate()
    return evaluation.eval["precision"][:, :, :, 0, 2], labels


def _coco_map(precision, threshold=None):
    if threshold is not None:
        precision = precision[[int(np.argmin(np.abs(np.array(COCO_IOU_THRESHOLDS) - threshold)))]]
    return float(np.mean(precision[precision > -1]))


@pytest.mark.parametrize("seed", range(8))
def test_box_map_matches_pycocotools(seed):
    rng = np.random.default_rng(seed)
    predictions, targets = _random_case(rng)
    precision, labels = _coco_precision(predictions, targets, "bbox", 48)
    assert mean_average_precision(predictions, targets) == pytest.approx(_coco_map(precision), abs=1e-12)
    assert mean_average_precision(predictions, targets, 0.5) == pytest.approx(
        _coco_map(precision, 0.5), abs=1e-12)
    assert mean_average_precision(predictions, targets, 0.75) == pytest.approx(
        _coco_map(precision, 0.75), abs=1e-12)
    table, classes = average_precision_table(predictions, targets)
    oracle = precision.mean(axis=1)  # (T, K): the AP of each class, -1 without truth
    index = [labels.index(int(c)) for c in classes]
    np.testing.assert_allclose(np.nan_to_num(table, nan=-1.0), oracle[:, index], atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_mask_map_matches_pycocotools(seed):
    rng = np.random.default_rng(100 + seed)
    predictions, targets = _random_case(rng, masks=True)
    precision, _ = _coco_precision(predictions, targets, "segm", 48)
    assert mean_average_precision(predictions, targets, iou_type="mask") == pytest.approx(
        _coco_map(precision), abs=1e-12)
    assert mean_average_precision(predictions, targets, 0.5, iou_type="mask") == pytest.approx(
        _coco_map(precision, 0.5), abs=1e-12)


def test_max_detections_matches_pycocotools():
    rng = np.random.default_rng(7)
    predictions, targets = _random_case(rng, images=4)
    for prediction in predictions:  # many detections per image and class
        extra = rng.uniform(0, 40, (12, 2))
        prediction["boxes"] = np.concatenate([prediction["boxes"],
                                              np.concatenate([extra, extra + 8], axis=1)])
        prediction["labels"] = np.concatenate([prediction["labels"], np.zeros(12, int)])
        prediction["scores"] = rng.random(len(prediction["boxes"]))
    precision, _ = _coco_precision(predictions, targets, "bbox", 48, max_detections=3)
    assert mean_average_precision(predictions, targets, max_detections=3) == pytest.approx(
        _coco_map(precision), abs=1e-12)


def test_torch_inputs_give_the_same_map():
    rng = np.random.default_rng(3)
    predictions, targets = _random_case(rng)
    as_tensors = [{key: torch.as_tensor(value) for key, value in item.items()} for item in predictions]
    assert mean_average_precision(as_tensors, targets) == mean_average_precision(predictions, targets)


# --------------------------------------------------------------------------- pose
def test_pck_by_hand_with_the_torso_reference():
    truth = np.zeros((1, 14, 2))
    truth[0, JOINTS.index("neck")] = [10.0, 0.0]
    truth[0, JOINTS.index("left_hip")] = [12.0, 20.0]
    truth[0, JOINTS.index("right_hip")] = [8.0, 20.0]  # torso: neck to (10, 20), 20 pixels
    predicted = truth.copy()
    predicted[0, 0] += [3.0, 0.0]  # 3 <= 0.2 * 20: correct
    predicted[0, 1] += [0.0, 4.5]  # 4.5 > 4: wrong
    predicted[0, 2] += [3.0, 3.0]  # 4.24 > 4: wrong
    assert pck(predicted, truth) == pytest.approx(12 / 14)
    visible = np.ones((1, 14), bool)
    visible[0, 1] = False  # an invisible joint does not count
    assert pck(predicted, truth, visible) == pytest.approx(12 / 13)
    assert pck(predicted, truth, alpha=0.25) == 1.0  # 4.5 <= 5 and 4.24 <= 5
    per_joint = pck(predicted, truth, visible, per_joint=True)
    assert np.isnan(per_joint[1]) and per_joint[2] == 0.0 and per_joint[0] == 1.0
    # box reference: the true joints span 20 x 20 here, tolerance 4 again
    assert pck(predicted, truth, reference="box") == pytest.approx(12 / 14)
    assert pck(predicted, truth, reference=np.array([100.0])) == 1.0
    assert pck(torch.from_numpy(predicted), torch.from_numpy(truth)) == pytest.approx(12 / 14)


def test_pck_errors():
    truth = np.random.default_rng(0).random((2, 5, 2))
    with pytest.raises(ValueError, match="reference='torso' needs the 14 joints"):
        pck(truth, truth)
    with pytest.raises(ValueError, match="visible joint"):
        pck(truth, truth, np.zeros((2, 5), bool), reference="box")
    with pytest.raises(ValueError, match="same|shape"):
        pck(truth, truth[:, :4], reference="box")
    with pytest.raises(ValueError, match="reference"):
        pck(truth, truth, reference="torso-size")
