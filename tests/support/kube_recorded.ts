/**
 * Data from the recordings of a real kube-apiserver v1.26.5 (shared/kube-recorded/, see its README.md),
 * embedded so tests run without that folder: the response status, header names and byte-exact body of
 * each recorded request (keyed by file number, with a/b/c/d for files holding several recordings), and
 * the objects that cluster held, ready to seed {@linkcode startKubeServer} with.
 *
 * Generated from the recording files; bodies are verbatim (watch bodies are the event lines).
 *
 * @module
 */
import type { JsonObject, ResourceName } from "../../lib/demo/kube_objects.ts";

/** One recorded exchange. */
export interface RecordedExchange {
  /** The request line as curl sent it. */
  request: string;
  /** HTTP status. */
  status: number;
  /** Response header names, in order (Audit-Id was dropped by the recorder). */
  headers: string[];
  /** The response body, byte-exact (chunked framing decoded). */
  body: string;
}

/** The recorded exchanges by file number (e.g. "01", "11a"). */
export const RECORDED: Record<string, RecordedExchange> = {
  "01": {
    request: "GET /api/v1/endpoints HTTP/1.1",
    status: 200,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Content-Length",
    ],
    body:
      '{"kind":"EndpointsList","apiVersion":"v1","metadata":{"resourceVersion":"211"},"items":[{"metadata":{"name":"kubernetes","namespace":"default","uid":"616976f6-637c-417b-be69-9336940895f3","resourceVersion":"198","creationTimestamp":"2026-11-25T00:43:08Z","labels":{"endpointslice.kubernetes.io/skip-mirror":"true"},"managedFields":[{"manager":"kube-apiserver","operation":"Update","apiVersion":"v1","time":"2026-11-25T00:43:08Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:endpointslice.kubernetes.io/skip-mirror":{}}},"f:subsets":{}}}]},"subsets":[{"addresses":[{"ip":"192.0.2.1"}],"ports":[{"name":"https","port":6443,"protocol":"TCP"}]}]},{"metadata":{"name":"web","namespace":"rec","uid":"903fbc13-fba2-4690-b4f0-8e3637ac1107","resourceVersion":"203","creationTimestamp":"2026-11-25T00:43:09Z","annotations":{"domain":"web.example.com","proto":"http"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-11-25T00:43:09Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:domain":{},"f:proto":{}}},"f:subsets":{}}}]},"subsets":[{"addresses":[{"ip":"192.0.2.10"},{"ip":"192.0.2.11"}],"notReadyAddresses":[{"ip":"192.0.2.12"}],"ports":[{"name":"http","port":8080,"protocol":"TCP"},{"name":"metrics","port":9090,"protocol":"TCP"}]}]}]}\n',
  },
  "02": {
    request: "GET /api/v1/endpoints?limit=1 HTTP/1.1",
    status: 200,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Content-Length",
    ],
    body:
      '{"kind":"EndpointsList","apiVersion":"v1","metadata":{"resourceVersion":"211","continue":"eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MjExLCJzdGFydCI6ImRlZmF1bHQva3ViZXJuZXRlc1x1MDAwMCJ9","remainingItemCount":1},"items":[{"metadata":{"name":"kubernetes","namespace":"default","uid":"616976f6-637c-417b-be69-9336940895f3","resourceVersion":"198","creationTimestamp":"2026-11-25T00:43:08Z","labels":{"endpointslice.kubernetes.io/skip-mirror":"true"},"managedFields":[{"manager":"kube-apiserver","operation":"Update","apiVersion":"v1","time":"2026-11-25T00:43:08Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:endpointslice.kubernetes.io/skip-mirror":{}}},"f:subsets":{}}}]},"subsets":[{"addresses":[{"ip":"192.0.2.1"}],"ports":[{"name":"https","port":6443,"protocol":"TCP"}]}]}]}\n',
  },
  "03": {
    request:
      "GET /api/v1/endpoints?limit=1&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MjExLCJzdGFydCI6ImRlZmF1bHQva3ViZXJuZXRlc1x1MDAwMCJ9 HTTP/1.1",
    status: 200,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Content-Length",
    ],
    body:
      '{"kind":"EndpointsList","apiVersion":"v1","metadata":{"resourceVersion":"211"},"items":[{"metadata":{"name":"web","namespace":"rec","uid":"903fbc13-fba2-4690-b4f0-8e3637ac1107","resourceVersion":"203","creationTimestamp":"2026-11-25T00:43:09Z","annotations":{"domain":"web.example.com","proto":"http"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-11-25T00:43:09Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:domain":{},"f:proto":{}}},"f:subsets":{}}}]},"subsets":[{"addresses":[{"ip":"192.0.2.10"},{"ip":"192.0.2.11"}],"notReadyAddresses":[{"ip":"192.0.2.12"}],"ports":[{"name":"http","port":8080,"protocol":"TCP"},{"name":"metrics","port":9090,"protocol":"TCP"}]}]}]}\n',
  },
  "04": {
    request:
      "GET /apis/discovery.k8s.io/v1/endpointslices?labelSelector=kubernetes.io/service-name=api HTTP/1.1",
    status: 200,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Content-Length",
    ],
    body:
      '{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{"resourceVersion":"211"},"items":[{"metadata":{"name":"api-v4","namespace":"rec","uid":"55522eed-b712-42a2-994e-ccff8dd037ea","resourceVersion":"206","generation":1,"creationTimestamp":"2026-11-25T00:43:09Z","labels":{"kubernetes.io/service-name":"api"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-11-25T00:43:09Z","fieldsType":"FieldsV1","fieldsV1":{"f:addressType":{},"f:endpoints":{},"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/service-name":{}}},"f:ports":{}}}]},"addressType":"IPv4","endpoints":[{"addresses":["192.0.2.20"],"conditions":{"ready":true,"serving":true,"terminating":false}},{"addresses":["192.0.2.21"],"conditions":{"ready":false,"serving":false,"terminating":false}}],"ports":[{"name":"https","protocol":"TCP","port":8443}]},{"metadata":{"name":"api-v6","namespace":"rec","uid":"23f1839d-f4dc-4262-9c4d-9698a130f20e","resourceVersion":"207","generation":1,"creationTimestamp":"2026-11-25T00:43:09Z","labels":{"kubernetes.io/service-name":"api"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-11-25T00:43:09Z","fieldsType":"FieldsV1","fieldsV1":{"f:addressType":{},"f:endpoints":{},"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/service-name":{}}},"f:ports":{}}}]},"addressType":"IPv6","endpoints":[{"addresses":["2001:db8::1"],"conditions":{"ready":true}}],"ports":[{"name":"https","protocol":"TCP","port":8443}]}]}\n',
  },
  "05": {
    request: "GET /api/v1/namespaces/rec/services HTTP/1.1",
    status: 200,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Transfer-Encoding",
    ],
    body:
      '{"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"211"},"items":[{"metadata":{"name":"api","namespace":"rec","uid":"bfc21333-f4d1-45a1-bb2b-fa43ebc6b209","resourceVersion":"205","creationTimestamp":"2026-11-25T00:43:09Z","annotations":{"domain":"api.example.com","proto":"https"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-11-25T00:43:09Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:domain":{},"f:proto":{}}},"f:spec":{"f:internalTrafficPolicy":{},"f:ports":{".":{},"k:{\\"port\\":443,\\"protocol\\":\\"TCP\\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:sessionAffinity":{},"f:type":{}}}}]},"spec":{"ports":[{"name":"https","protocol":"TCP","port":443,"targetPort":8443}],"clusterIP":"10.0.0.28","clusterIPs":["10.0.0.28"],"type":"ClusterIP","sessionAffinity":"None","ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack","internalTrafficPolicy":"Cluster"},"status":{"loadBalancer":{}}},{"metadata":{"name":"web","namespace":"rec","uid":"fa2fa1c2-64ba-4a5f-b7a0-6b4c52791863","resourceVersion":"202","creationTimestamp":"2026-11-25T00:43:08Z","annotations":{"domain":"web.example.com","proto":"http"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-11-25T00:43:08Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:domain":{},"f:proto":{}}},"f:spec":{"f:internalTrafficPolicy":{},"f:ports":{".":{},"k:{\\"port\\":80,\\"protocol\\":\\"TCP\\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}},"k:{\\"port\\":9090,\\"protocol\\":\\"TCP\\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:sessionAffinity":{},"f:type":{}}}}]},"spec":{"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080},{"name":"metrics","protocol":"TCP","port":9090,"targetPort":9090}],"clusterIP":"10.0.0.124","clusterIPs":["10.0.0.124"],"type":"ClusterIP","sessionAffinity":"None","ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack","internalTrafficPolicy":"Cluster"},"status":{"loadBalancer":{}}}]}\n',
  },
  "06": {
    request: "GET /api/v1/namespaces/rec/endpoints HTTP/1.1",
    status: 200,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Content-Length",
    ],
    body:
      '{"kind":"EndpointsList","apiVersion":"v1","metadata":{"resourceVersion":"211"},"items":[{"metadata":{"name":"web","namespace":"rec","uid":"903fbc13-fba2-4690-b4f0-8e3637ac1107","resourceVersion":"203","creationTimestamp":"2026-11-25T00:43:09Z","annotations":{"domain":"web.example.com","proto":"http"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-11-25T00:43:09Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:domain":{},"f:proto":{}}},"f:subsets":{}}}]},"subsets":[{"addresses":[{"ip":"192.0.2.10"},{"ip":"192.0.2.11"}],"notReadyAddresses":[{"ip":"192.0.2.12"}],"ports":[{"name":"http","port":8080,"protocol":"TCP"},{"name":"metrics","port":9090,"protocol":"TCP"}]}]}]}\n',
  },
  "07": {
    request:
      "GET /api/v1/endpoints?watch=1&resourceVersion=211&allowWatchBookmarks=true&timeoutSeconds=15 HTTP/1.1",
    status: 200,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Transfer-Encoding",
    ],
    body:
      '{"type":"MODIFIED","object":{"kind":"Endpoints","apiVersion":"v1","metadata":{"name":"web","namespace":"rec","uid":"903fbc13-fba2-4690-b4f0-8e3637ac1107","resourceVersion":"212","creationTimestamp":"2026-11-25T00:43:09Z","annotations":{"domain":"www.example.com","proto":"http"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-11-25T00:43:09Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:proto":{}}},"f:subsets":{}}},{"manager":"kubectl-annotate","operation":"Update","apiVersion":"v1","time":"2026-11-25T00:43:22Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{"f:domain":{}}}}}]},"subsets":[{"addresses":[{"ip":"192.0.2.10"},{"ip":"192.0.2.11"}],"notReadyAddresses":[{"ip":"192.0.2.12"}],"ports":[{"name":"http","port":8080,"protocol":"TCP"},{"name":"metrics","port":9090,"protocol":"TCP"}]}]}}\n{"type":"MODIFIED","object":{"kind":"Endpoints","apiVersion":"v1","metadata":{"name":"web","namespace":"rec","uid":"903fbc13-fba2-4690-b4f0-8e3637ac1107","resourceVersion":"215","creationTimestamp":"2026-11-25T00:43:09Z","annotations":{"domain":"www.example.com","proto":"http"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-11-25T00:43:09Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:proto":{}}}}},{"manager":"kubectl-annotate","operation":"Update","apiVersion":"v1","time":"2026-11-25T00:43:22Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{"f:domain":{}}}}},{"manager":"kubectl-patch","operation":"Update","apiVersion":"v1","time":"2026-11-25T00:43:25Z","fieldsType":"FieldsV1","fieldsV1":{"f:subsets":{}}}]},"subsets":[{"addresses":[{"ip":"192.0.2.10"},{"ip":"192.0.2.11"},{"ip":"192.0.2.12"}],"ports":[{"name":"http","port":8080,"protocol":"TCP"},{"name":"metrics","port":9090,"protocol":"TCP"}]}]}}\n{"type":"ADDED","object":{"kind":"Endpoints","apiVersion":"v1","metadata":{"name":"extra","namespace":"rec","uid":"7c5c8bad-a7d4-4533-bebe-15e0a38b55d2","resourceVersion":"216","creationTimestamp":"2026-11-25T00:43:28Z","managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-11-25T00:43:28Z","fieldsType":"FieldsV1","fieldsV1":{"f:subsets":{}}}]},"subsets":[{"addresses":[{"ip":"192.0.2.40"}],"ports":[{"name":"http","port":80,"protocol":"TCP"}]}]}}\n{"type":"DELETED","object":{"kind":"Endpoints","apiVersion":"v1","metadata":{"name":"extra","namespace":"rec","uid":"7c5c8bad-a7d4-4533-bebe-15e0a38b55d2","resourceVersion":"217","creationTimestamp":"2026-11-25T00:43:28Z","managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-11-25T00:43:28Z","fieldsType":"FieldsV1","fieldsV1":{"f:subsets":{}}}]},"subsets":[{"addresses":[{"ip":"192.0.2.40"}],"ports":[{"name":"http","port":80,"protocol":"TCP"}]}]}}\n{"type":"BOOKMARK","object":{"kind":"Endpoints","apiVersion":"v1","metadata":{"resourceVersion":"217","creationTimestamp":null}}}\n{"type":"BOOKMARK","object":{"kind":"Endpoints","apiVersion":"v1","metadata":{"resourceVersion":"217","creationTimestamp":null}}}\n',
  },
  "08": {
    request:
      "GET /apis/discovery.k8s.io/v1/endpointslices?watch=1&resourceVersion=219&allowWatchBookmarks=true&timeoutSeconds=15 HTTP/1.1",
    status: 200,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Transfer-Encoding",
    ],
    body:
      '{"type":"MODIFIED","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"api-v4","namespace":"rec","uid":"55522eed-b712-42a2-994e-ccff8dd037ea","resourceVersion":"220","generation":1,"creationTimestamp":"2026-11-25T00:43:09Z","labels":{"kubernetes.io/service-name":"api"},"annotations":{"note":"changed"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-11-25T00:43:09Z","fieldsType":"FieldsV1","fieldsV1":{"f:addressType":{},"f:endpoints":{},"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/service-name":{}}},"f:ports":{}}},{"manager":"kubectl-annotate","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-11-25T00:43:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:note":{}}}}}]},"addressType":"IPv4","endpoints":[{"addresses":["192.0.2.20"],"conditions":{"ready":true,"serving":true,"terminating":false}},{"addresses":["192.0.2.21"],"conditions":{"ready":false,"serving":false,"terminating":false}}],"ports":[{"name":"https","protocol":"TCP","port":8443}]}}\n{"type":"MODIFIED","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"api-v4","namespace":"rec","uid":"55522eed-b712-42a2-994e-ccff8dd037ea","resourceVersion":"221","generation":2,"creationTimestamp":"2026-11-25T00:43:09Z","labels":{"kubernetes.io/service-name":"api"},"annotations":{"note":"changed"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-11-25T00:43:09Z","fieldsType":"FieldsV1","fieldsV1":{"f:addressType":{},"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/service-name":{}}},"f:ports":{}}},{"manager":"kubectl-annotate","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-11-25T00:43:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:note":{}}}}},{"manager":"kubectl-patch","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-11-25T00:43:40Z","fieldsType":"FieldsV1","fieldsV1":{"f:endpoints":{}}}]},"addressType":"IPv4","endpoints":[{"addresses":["192.0.2.20"],"conditions":{"ready":true,"serving":true,"terminating":false}},{"addresses":["192.0.2.21"],"conditions":{"ready":true,"serving":false,"terminating":false}}],"ports":[{"name":"https","protocol":"TCP","port":8443}]}}\n{"type":"ADDED","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"api-extra","namespace":"rec","uid":"04fc073d-34e0-4cf9-bd12-9f4d198e2d9e","resourceVersion":"223","generation":1,"creationTimestamp":"2026-11-25T00:43:43Z","labels":{"kubernetes.io/service-name":"api"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-11-25T00:43:43Z","fieldsType":"FieldsV1","fieldsV1":{"f:addressType":{},"f:endpoints":{},"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/service-name":{}}},"f:ports":{}}}]},"addressType":"IPv4","endpoints":[{"addresses":["192.0.2.50"],"conditions":{"ready":true}}],"ports":[{"name":"https","protocol":"TCP","port":8443}]}}\n{"type":"DELETED","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"api-extra","namespace":"rec","uid":"04fc073d-34e0-4cf9-bd12-9f4d198e2d9e","resourceVersion":"225","generation":1,"creationTimestamp":"2026-11-25T00:43:43Z","labels":{"kubernetes.io/service-name":"api"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-11-25T00:43:43Z","fieldsType":"FieldsV1","fieldsV1":{"f:addressType":{},"f:endpoints":{},"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/service-name":{}}},"f:ports":{}}}]},"addressType":"IPv4","endpoints":[{"addresses":["192.0.2.50"],"conditions":{"ready":true}}],"ports":[{"name":"https","protocol":"TCP","port":8443}]}}\n{"type":"BOOKMARK","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"resourceVersion":"225","creationTimestamp":null},"addressType":"","endpoints":null,"ports":null}}\n',
  },
  "09": {
    request:
      "GET /api/v1/endpoints?watch=1&resourceVersion=1&allowWatchBookmarks=true&timeoutSeconds=15 HTTP/1.1",
    status: 200,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Transfer-Encoding",
    ],
    body:
      '{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (207)","reason":"Expired","code":410}}\n',
  },
  "10": {
    request: "GET /api/v1/endpoints?resourceVersion=211&resourceVersionMatch=Exact HTTP/1.1",
    status: 410,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Content-Length",
    ],
    body:
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"The resourceVersion for the provided list is too old.","reason":"Expired","code":410}\n',
  },
  "11a": {
    request: "GET /api/v1/endpoints HTTP/1.1",
    status: 403,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Content-Type-Options",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Content-Length",
    ],
    body:
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"endpoints is forbidden: User \\"system:anonymous\\" cannot list resource \\"endpoints\\" in API group \\"\\" at the cluster scope","reason":"Forbidden","details":{"kind":"endpoints"},"code":403}\n',
  },
  "11b": {
    request: "GET /api/v1/endpoints HTTP/1.1",
    status: 401,
    headers: ["Cache-Control", "Content-Type", "Date", "Content-Length"],
    body:
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}\n',
  },
  "12a": {
    request: "GET /api/v1/endpoints HTTP/1.1",
    status: 403,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Content-Type-Options",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Content-Length",
    ],
    body:
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"endpoints is forbidden: User \\"reader\\" cannot list resource \\"endpoints\\" in API group \\"\\" at the cluster scope","reason":"Forbidden","details":{"kind":"endpoints"},"code":403}\n',
  },
  "12b": {
    request: "GET /api/v1/namespaces/rec/endpoints?watch=1&timeoutSeconds=5 HTTP/1.1",
    status: 403,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Content-Type-Options",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Content-Length",
    ],
    body:
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"endpoints is forbidden: User \\"reader\\" cannot watch resource \\"endpoints\\" in API group \\"\\" in the namespace \\"rec\\"","reason":"Forbidden","details":{"kind":"endpoints"},"code":403}\n',
  },
  "12c": {
    request: "GET /apis/discovery.k8s.io/v1/endpointslices HTTP/1.1",
    status: 403,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Content-Type-Options",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Content-Length",
    ],
    body:
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"endpointslices.discovery.k8s.io is forbidden: User \\"reader\\" cannot list resource \\"endpointslices\\" in API group \\"discovery.k8s.io\\" at the cluster scope","reason":"Forbidden","details":{"group":"discovery.k8s.io","kind":"endpointslices"},"code":403}\n',
  },
  "13a": {
    request: "GET /api/v1/endpoints?resourceVersion=abc HTTP/1.1",
    status: 500,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Content-Length",
    ],
    body:
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"resourceVersion: Invalid value: \\"abc\\": strconv.ParseUint: parsing \\"abc\\": invalid syntax","code":500}\n',
  },
  "13b": {
    request: "GET /api/v1/endpoints?watch=1&resourceVersion=abc&timeoutSeconds=5 HTTP/1.1",
    status: 500,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Content-Length",
    ],
    body:
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"resourceVersion: Invalid value: \\"abc\\": strconv.ParseUint: parsing \\"abc\\": invalid syntax","code":500}\n',
  },
  "13c": {
    request: "GET /api/v1/endpoints?resourceVersion=abc&limit=1 HTTP/1.1",
    status: 400,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Content-Length",
    ],
    body:
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"invalid resource version: resourceVersion: Invalid value: \\"abc\\": strconv.ParseUint: parsing \\"abc\\": invalid syntax","reason":"BadRequest","code":400}\n',
  },
  "13d": {
    request: "GET /api/v1/endpoints?resourceVersionMatch=Exact HTTP/1.1",
    status: 422,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Content-Length",
    ],
    body:
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"ListOptions.meta.k8s.io \\"\\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided","reason":"Invalid","details":{"group":"meta.k8s.io","kind":"ListOptions","causes":[{"reason":"FieldValueForbidden","message":"Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided","field":"resourceVersionMatch"}]},"code":422}\n',
  },
  "14": {
    request:
      "GET /apis/discovery.k8s.io/v1/endpointslices?watch=1&labelSelector=kubernetes.io%2Fservice-name%3Dapi&allowWatchBookmarks=true&timeoutSeconds=10 HTTP/1.1",
    status: 200,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Transfer-Encoding",
    ],
    body:
      '{"type":"ADDED","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"api-v4","namespace":"rec","uid":"55522eed-b712-42a2-994e-ccff8dd037ea","resourceVersion":"221","generation":2,"creationTimestamp":"2026-11-25T00:43:09Z","labels":{"kubernetes.io/service-name":"api"},"annotations":{"note":"changed"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-11-25T00:43:09Z","fieldsType":"FieldsV1","fieldsV1":{"f:addressType":{},"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/service-name":{}}},"f:ports":{}}},{"manager":"kubectl-annotate","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-11-25T00:43:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:note":{}}}}},{"manager":"kubectl-patch","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-11-25T00:43:40Z","fieldsType":"FieldsV1","fieldsV1":{"f:endpoints":{}}}]},"addressType":"IPv4","endpoints":[{"addresses":["192.0.2.20"],"conditions":{"ready":true,"serving":true,"terminating":false}},{"addresses":["192.0.2.21"],"conditions":{"ready":true,"serving":false,"terminating":false}}],"ports":[{"name":"https","protocol":"TCP","port":8443}]}}\n{"type":"ADDED","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"api-v6","namespace":"rec","uid":"23f1839d-f4dc-4262-9c4d-9698a130f20e","resourceVersion":"207","generation":1,"creationTimestamp":"2026-11-25T00:43:09Z","labels":{"kubernetes.io/service-name":"api"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-11-25T00:43:09Z","fieldsType":"FieldsV1","fieldsV1":{"f:addressType":{},"f:endpoints":{},"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/service-name":{}}},"f:ports":{}}}]},"addressType":"IPv6","endpoints":[{"addresses":["2001:db8::1"],"conditions":{"ready":true}}],"ports":[{"name":"https","protocol":"TCP","port":8443}]}}\n{"type":"DELETED","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"api-v6","namespace":"rec","uid":"23f1839d-f4dc-4262-9c4d-9698a130f20e","resourceVersion":"228","generation":1,"creationTimestamp":"2026-11-25T00:43:09Z","labels":{"kubernetes.io/service-name":"api"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-11-25T00:43:09Z","fieldsType":"FieldsV1","fieldsV1":{"f:addressType":{},"f:endpoints":{},"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/service-name":{}}},"f:ports":{}}}]},"addressType":"IPv6","endpoints":[{"addresses":["2001:db8::1"],"conditions":{"ready":true}}],"ports":[{"name":"https","protocol":"TCP","port":8443}]}}\n{"type":"ADDED","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"api-v6","namespace":"rec","uid":"23f1839d-f4dc-4262-9c4d-9698a130f20e","resourceVersion":"229","generation":3,"creationTimestamp":"2026-11-25T00:43:09Z","labels":{"kubernetes.io/service-name":"api"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-11-25T00:43:09Z","fieldsType":"FieldsV1","fieldsV1":{"f:addressType":{},"f:endpoints":{},"f:metadata":{"f:labels":{}},"f:ports":{}}},{"manager":"kubectl-label","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-11-25T00:43:59Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{"f:kubernetes.io/service-name":{}}}}}]},"addressType":"IPv6","endpoints":[{"addresses":["2001:db8::1"],"conditions":{"ready":true}}],"ports":[{"name":"https","protocol":"TCP","port":8443}]}}\n{"type":"MODIFIED","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"api-v4","namespace":"rec","uid":"55522eed-b712-42a2-994e-ccff8dd037ea","resourceVersion":"230","generation":2,"creationTimestamp":"2026-11-25T00:43:09Z","labels":{"kubernetes.io/service-name":"api"},"annotations":{"note":"again"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-11-25T00:43:09Z","fieldsType":"FieldsV1","fieldsV1":{"f:addressType":{},"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/service-name":{}}},"f:ports":{}}},{"manager":"kubectl-patch","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-11-25T00:43:40Z","fieldsType":"FieldsV1","fieldsV1":{"f:endpoints":{}}},{"manager":"kubectl-annotate","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-11-25T00:44:01Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:note":{}}}}}]},"addressType":"IPv4","endpoints":[{"addresses":["192.0.2.20"],"conditions":{"ready":true,"serving":true,"terminating":false}},{"addresses":["192.0.2.21"],"conditions":{"ready":true,"serving":false,"terminating":false}}],"ports":[{"name":"https","protocol":"TCP","port":8443}]}}\n{"type":"BOOKMARK","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"resourceVersion":"230","creationTimestamp":null},"addressType":"","endpoints":null,"ports":null}}\n',
  },
  "17": {
    request:
      "GET /api/v1/endpoints?limit=1&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MjExLCJzdGFydCI6ImRlZmF1bHQva3ViZXJuZXRlc1x1MDAwMCJ9 HTTP/1.1",
    status: 410,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Content-Length",
    ],
    body:
      '{"kind":"Status","apiVersion":"v1","metadata":{"continue":"eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6LTEsInN0YXJ0IjoiZGVmYXVsdC9rdWJlcm5ldGVzXHUwMDAwIn0"},"status":"Failure","message":"The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.","reason":"Expired","code":410}\n',
  },
  "18": {
    request:
      "GET /api/v1/namespaces/rec/endpoints?watch=1&resourceVersion=232&allowWatchBookmarks=true&timeoutSeconds=6 HTTP/1.1",
    status: 200,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Transfer-Encoding",
    ],
    body: "",
  },
  "19": {
    request: "GET /api/v1/endpoints?resourceVersion=0&limit=1 HTTP/1.1",
    status: 200,
    headers: [
      "Cache-Control",
      "Content-Type",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Content-Length",
    ],
    body:
      '{"kind":"EndpointsList","apiVersion":"v1","metadata":{"resourceVersion":"217"},"items":[{"metadata":{"name":"kubernetes","namespace":"default","uid":"616976f6-637c-417b-be69-9336940895f3","resourceVersion":"198","creationTimestamp":"2026-11-25T00:43:08Z","labels":{"endpointslice.kubernetes.io/skip-mirror":"true"},"managedFields":[{"manager":"kube-apiserver","operation":"Update","apiVersion":"v1","time":"2026-11-25T00:43:08Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:endpointslice.kubernetes.io/skip-mirror":{}}},"f:subsets":{}}}]},"subsets":[{"addresses":[{"ip":"192.0.2.1"}],"ports":[{"name":"https","port":6443,"protocol":"TCP"}]}]},{"metadata":{"name":"web","namespace":"rec","uid":"903fbc13-fba2-4690-b4f0-8e3637ac1107","resourceVersion":"215","creationTimestamp":"2026-11-25T00:43:09Z","annotations":{"domain":"www.example.com","proto":"http"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-11-25T00:43:09Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:proto":{}}}}},{"manager":"kubectl-annotate","operation":"Update","apiVersion":"v1","time":"2026-11-25T00:43:22Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{"f:domain":{}}}}},{"manager":"kubectl-patch","operation":"Update","apiVersion":"v1","time":"2026-11-25T00:43:25Z","fieldsType":"FieldsV1","fieldsV1":{"f:subsets":{}}}]},"subsets":[{"addresses":[{"ip":"192.0.2.10"},{"ip":"192.0.2.11"},{"ip":"192.0.2.12"}],"ports":[{"name":"http","port":8080,"protocol":"TCP"},{"name":"metrics","port":9090,"protocol":"TCP"}]}]}]}\n',
  },
  "20": {
    request: "GET /api/v1/endpoints?resourceVersion=99999999 HTTP/1.1",
    status: 504,
    headers: [
      "Cache-Control",
      "Content-Type",
      "Retry-After",
      "X-Kubernetes-Pf-Flowschema-Uid",
      "X-Kubernetes-Pf-Prioritylevel-Uid",
      "Date",
      "Content-Length",
    ],
    body:
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Timeout: Too large resource version: 99999999, current: 217","reason":"Timeout","details":{"causes":[{"reason":"ResourceVersionTooLarge","message":"Too large resource version"}],"retryAfterSeconds":1},"code":504}\n',
  },
};

/**
 * The objects of the recorded cluster as `kubectl create` sent them (namespace "rec" plus
 * default/kubernetes), for `startKubeServer({ objects: RECORDED_OBJECTS })`. Services get their
 * defaults (clusterIP, ipFamilies, ...) from the server, as in the recordings.
 */
export const RECORDED_OBJECTS: Record<Exclude<ResourceName, "secrets">, JsonObject[]> = {
  endpoints: [
    {
      metadata: {
        name: "kubernetes",
        namespace: "default",
        labels: { "endpointslice.kubernetes.io/skip-mirror": "true" },
      },
      subsets: [{
        addresses: [{ ip: "192.0.2.1" }],
        ports: [{ name: "https", port: 6443, protocol: "TCP" }],
      }],
    },
    {
      metadata: { name: "web", namespace: "rec", annotations: { domain: "web.example.com", proto: "http" } },
      subsets: [{
        addresses: [{ ip: "192.0.2.10" }, { ip: "192.0.2.11" }],
        notReadyAddresses: [{ ip: "192.0.2.12" }],
        ports: [{ name: "http", port: 8080, protocol: "TCP" }, {
          name: "metrics",
          port: 9090,
          protocol: "TCP",
        }],
      }],
    },
  ],
  services: [
    {
      metadata: { name: "web", namespace: "rec", annotations: { domain: "web.example.com", proto: "http" } },
      spec: {
        ports: [{ name: "http", port: 80, targetPort: 8080 }, {
          name: "metrics",
          port: 9090,
          targetPort: 9090,
        }],
      },
    },
    {
      metadata: { name: "api", namespace: "rec", annotations: { domain: "api.example.com", proto: "https" } },
      spec: { ports: [{ name: "https", port: 443, targetPort: 8443 }] },
    },
  ],
  endpointslices: [
    {
      metadata: { name: "api-v4", namespace: "rec", labels: { "kubernetes.io/service-name": "api" } },
      addressType: "IPv4",
      endpoints: [
        { addresses: ["192.0.2.20"], conditions: { ready: true, serving: true, terminating: false } },
        { addresses: ["192.0.2.21"], conditions: { ready: false, serving: false, terminating: false } },
      ],
      ports: [{ name: "https", port: 8443 }],
    },
    {
      metadata: { name: "api-v6", namespace: "rec", labels: { "kubernetes.io/service-name": "api" } },
      addressType: "IPv6",
      endpoints: [{ addresses: ["2001:db8::1"], conditions: { ready: true } }],
      ports: [{ name: "https", port: 8443 }],
    },
  ],
  nodes: [],
};
