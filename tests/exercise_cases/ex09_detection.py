"""09-detection: wrong answers lose exactly their task; different correct answers score full."""

from exercise_cases import Case, combine, replace, substitute

ASSIGNMENT = "09-detection"

_CLIP = "inter = np.maximum(width, 0) * np.maximum(height, 0)"
_UNION = "union = area_a[:, None] + area_b[None, :] - inter"
_SUPPRESS = "in_play &= overlaps[index] <= iou_threshold"
_ACCUMULATE = "precision = np.maximum.accumulate(precision[::-1])[::-1]"
_MATCH = "                if hit:\n                    matched[best] = True\n"

WRONG = {
    # 1. IoU
    "iou-unclipped": Case(replace("box_iou", _CLIP, "inter = width * height"),
                          frozenset({"test_box_iou"}), "negative overlaps of disjoint boxes not clipped"),
    "iou-over-sum": Case(replace("box_iou", _UNION, "union = area_a[:, None] + area_b[None, :]"),
                         frozenset({"test_box_iou"}), "the union without subtracting the intersection"),
    "iou-pixel-plus-one": Case(combine(
        replace("box_iou", "width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])",
                "width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + 1"),
        replace("box_iou", "height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])",
                "height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + 1")),
        frozenset({"test_box_iou"}), "the old inclusive-pixel convention (+1) in the overlap only"),
    "iou-course-getattr": Case(substitute("box_iou", "\n".join([
        "import importlib",
        "",
        "def box_iou(boxes1, boxes2):",
        "    tools = importlib.import_module('cnncourse.' + 'metrics')",
        "    return getattr(tools, 'box_' + 'iou')(boxes1, boxes2)",
    ])), frozenset({"test_box_iou"}), "the course's box_iou through importlib and getattr"),
    "iou-list": Case(replace("box_iou", "return iou", "return iou.tolist()"),
                     frozenset({"test_box_iou"}), "a list of lists instead of an array"),
    # 2. NMS
    "nms-suppress-equal": Case(replace("nms", _SUPPRESS, "in_play &= overlaps[index] < iou_threshold"),
                               frozenset({"test_nms"}), "suppresses at an IoU equal to the threshold"),
    "nms-index-order": Case(replace("nms", "for index in order:", "for index in range(len(boxes)):"),
                            frozenset({"test_nms"}), "visits the boxes in index order, not by score"),
    "nms-changes-scores": Case(replace("nms", _SUPPRESS, _SUPPRESS + "\n        scores[~in_play] = -1.0"),
                               frozenset({"test_nms"}), "marks suppressed boxes in the caller's scores"),
    "nms-float-indices": Case(replace("nms", "return np.array(keep, dtype=np.int64)", "return np.array(keep, dtype=float)"),
                              frozenset({"test_nms"}), "indices as floats"),
    "nms-torch-alias": Case(substitute("nms", "\n".join([
        "import torch as tensors",
        "",
        "def nms(boxes, scores, iou_threshold=0.5):",
        "    order = tensors.argsort(tensors.as_tensor(-np.asarray(scores, float)), stable=True).numpy()",
        "    overlaps = box_iou(boxes, boxes)",
        "    in_play = np.ones(len(order), dtype=bool)",
        "    keep = []",
        "    for index in order:",
        "        if in_play[index]:",
        "            keep.append(index)",
        "            in_play &= overlaps[index] <= iou_threshold",
        "    return np.array(keep, dtype=np.int64)",
    ])), frozenset({"test_nms"}), "sorts with torch (forbidden) under an alias"),
    # 3. AP
    "ap-not-interpolated": Case(replace("average_precision", _ACCUMULATE, "pass"),
                                frozenset({"test_average_precision"}), "precision not made non-increasing"),
    "ap-eleven-points": Case(replace("average_precision", "levels = np.linspace(0, 1, 101)",
                                     "levels = np.linspace(0, 1, 11)"),
                             frozenset({"test_average_precision"}), "PASCAL's 11 recall levels"),
    "ap-recall-over-detections": Case(replace("average_precision", "recall = hits / num_truth",
                                              "recall = hits / max(int(correct.sum()), 1)"),
                                      frozenset({"test_average_precision"}),
                                      "recall relative to the found objects, not all true objects"),
    "ap-sklearn": Case(substitute("average_precision", "\n".join([
        "from sklearn import metrics as scoring",
        "",
        "def average_precision(scores, correct, num_truth):",
        "    if len(scores) == 0 or not np.any(correct):",
        "        return 0.0",
        "    found = np.sum(correct) / num_truth",
        "    return float(scoring.average_precision_score(np.asarray(correct, bool), np.asarray(scores, float)) * found)",
    ])), frozenset({"test_average_precision"}), "scikit-learn's average_precision_score under an alias"),
    # 4. mAP
    "map-duplicates-count": Case(replace("map50", _MATCH, ""),
                                 frozenset({"test_map50"}), "an object found twice counts twice"),
    "map-class-agnostic": Case(replace("map50", "truth = np.asarray(target[\"boxes\"], dtype=float).reshape(-1, 4)"
                                                "[np.asarray(target[\"labels\"]) == c]",
                                       "truth = np.asarray(target[\"boxes\"], dtype=float).reshape(-1, 4)"),
                               frozenset({"test_map50"}), "matches detections to objects of any class"),
    "map-predicted-classes": Case(replace("map50", "for c in sorted(classes):",
                                          "for prediction in predictions:\n"
                                          "        classes.update(int(label) for label in np.asarray(prediction['labels']))\n"
                                          "    for c in sorted(classes):\n"
                                          "        if not any(np.any(np.asarray(t['labels']) == c) for t in targets):\n"
                                          "            aps.append(0.0)\n"
                                          "            continue"),
                                  frozenset({"test_map50"}), "a class that is only predicted counts as AP 0"),
    "map-course": Case(substitute("map50", "\n".join([
        "def map50(predictions, targets):",
        "    from cnncourse.metrics import mean_average_precision as score",
        "    return score(predictions, targets, iou_thresholds=0.5)",
    ])), frozenset({"test_map50"}), "the course's mAP"),
}

CORRECT = {
    "iou-loops-float32": Case(substitute("box_iou", "\n".join([
        "def box_iou(boxes1, boxes2):",
        "    a = np.asarray(boxes1, dtype=np.float32).reshape(-1, 4)",
        "    b = np.asarray(boxes2, dtype=np.float32).reshape(-1, 4)",
        "    out = np.zeros((len(a), len(b)), dtype=np.float32)",
        "    for i in range(len(a)):",
        "        for j in range(len(b)):",
        "            w = max(0.0, min(a[i, 2], b[j, 2]) - max(a[i, 0], b[j, 0]))",
        "            h = max(0.0, min(a[i, 3], b[j, 3]) - max(a[i, 1], b[j, 1]))",
        "            union = (a[i, 2] - a[i, 0]) * (a[i, 3] - a[i, 1]) + (b[j, 2] - b[j, 0]) * (b[j, 3] - b[j, 1]) - w * h",
        "            out[i, j] = w * h / union if union > 0 else 0.0",
        "    return out",
    ]))),
    "nms-while-loop": Case(substitute("nms", "\n".join([
        "def nms(boxes, scores, iou_threshold=0.5):",
        "    boxes = np.array(boxes, dtype=float).reshape(-1, 4)",
        "    order = np.array(sorted(range(len(boxes)), key=lambda i: -float(scores[i])), dtype=int)",
        "    keep = []",
        "    while len(order):",
        "        best, order = order[0], order[1:]",
        "        keep.append(best)",
        "        if len(order):",
        "            order = order[box_iou(boxes[best:best + 1], boxes[order])[0] <= iou_threshold]",
        "    return np.asarray(keep, dtype=int)",
    ]))),
    "ap-loops": Case(substitute("average_precision", "\n".join([
        "def average_precision(scores, correct, num_truth):",
        "    ranked = [bool(correct[i]) for i in sorted(range(len(scores)), key=lambda i: -scores[i])]",
        "    recall, precision, tp = [], [], 0",
        "    for k, hit in enumerate(ranked, start=1):",
        "        tp += hit",
        "        recall.append(tp / num_truth)",
        "        precision.append(tp / k)",
        "    for k in range(len(precision) - 2, -1, -1):",
        "        precision[k] = max(precision[k], precision[k + 1])",
        "    total = 0.0",
        "    for level in range(101):",
        "        r = level / 100",
        "        for k in range(len(recall)):",
        "            if recall[k] >= r - 1e-12:",
        "                total += precision[k]",
        "                break",
        "    return total / 101",
    ]))),
    "map-helpers": Case(substitute("map50", "\n".join([
        "def compute_iou(a, b):",
        "    return box_iou(a, b)",
        "",
        "",
        "def evaluate(detections, truth, threshold=0.5):",
        "    taken, flags = set(), []",
        "    overlaps = compute_iou(detections, truth) if len(detections) else np.zeros((0, len(truth)))",
        "    for row in overlaps:",
        "        options = [(row[j], j) for j in range(len(truth)) if j not in taken and row[j] >= threshold]",
        "        if options:",
        "            taken.add(max(options)[1])",
        "        flags.append(bool(options))",
        "    return flags",
        "",
        "",
        "def map50(predictions, targets):",
        "    labels = sorted(set(np.concatenate([np.asarray(t['labels']) for t in targets]).tolist()))",
        "    results = []",
        "    for c in labels:",
        "        all_scores, all_flags, n = [], [], 0",
        "        for p, t in zip(predictions, targets):",
        "            t_boxes = np.asarray(t['boxes'], np.float32).reshape(-1, 4)[np.asarray(t['labels']) == c]",
        "            n += len(t_boxes)",
        "            pick = np.asarray(p['labels']) == c",
        "            s = np.asarray(p['scores'])[pick]",
        "            order = np.argsort(-s, kind='stable')",
        "            d = np.asarray(p['boxes'], np.float32).reshape(-1, 4)[pick][order]",
        "            all_flags += evaluate(d, t_boxes)",
        "            all_scores += list(s[order])",
        "        results.append(average_precision(np.array(all_scores, float), np.array(all_flags, bool), n))",
        "    return sum(results) / len(results)",
    ]))),
}
