import time, torch, torchvision, os
res = {}
for name in ["resnet50", "mobilenet_v3_large", "vit_b_16", "efficientnet_b0", "swin_t"]:
    m = torchvision.models.get_model(name, weights=None).eval(); x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        for threads in (1, 2, 1, 2):
            torch.set_num_threads(threads)
            m(x)
            ts = []
            for _ in range(5):
                t = time.perf_counter(); m(x); ts.append(time.perf_counter() - t)
            res.setdefault((name, threads), []).append(sorted(ts)[2])
for k, v in res.items(): print(k, [round(a * 1000, 1) for a in v], "ms")
