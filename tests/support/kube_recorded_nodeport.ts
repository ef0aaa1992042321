/**
 * Recordings 24–28 of a real kube-apiserver v1.26.4 (shared/kube-recorded/, see its README.md): Nodes and
 * NodePort / LoadBalancer Services (list, watch) and EndpointSlices with nodeName, embedded so tests run
 * without that folder, plus the writes that produced them, to replay against the test API server.
 *
 * Generated from the recording files; bodies are verbatim (watch bodies are the event lines).
 *
 * @module
 */
import type { JsonObject } from "../../lib/demo/kube_objects.ts";
import type { RecordedExchange } from "./kube_recorded.ts";

/** The recorded exchanges 24–28 by file number. */
export const RECORDED_NODEPORT: Record<string, RecordedExchange> = {
  "24": {
    request: "GET /api/v1/nodes HTTP/1.1",
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
      '{"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"234"},"items":[{"metadata":{"name":"node-a","uid":"64af1a35-4b32-452b-b66b-2c99a92f57e3","resourceVersion":"212","creationTimestamp":"2026-12-05T13:44:37Z","labels":{"kubernetes.io/arch":"amd64","kubernetes.io/hostname":"node-a","kubernetes.io/os":"linux","topology.kubernetes.io/zone":"zone-a"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/arch":{},"f:kubernetes.io/hostname":{},"f:kubernetes.io/os":{},"f:topology.kubernetes.io/zone":{}}}}},{"manager":"kubectl-patch","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:addresses":{".":{},"k:{\\"type\\":\\"Hostname\\"}":{".":{},"f:address":{},"f:type":{}},"k:{\\"type\\":\\"InternalIP\\"}":{".":{},"f:address":{},"f:type":{}}},"f:allocatable":{".":{},"f:cpu":{},"f:memory":{},"f:pods":{}},"f:capacity":{".":{},"f:cpu":{},"f:memory":{},"f:pods":{}},"f:conditions":{".":{},"k:{\\"type\\":\\"Ready\\"}":{".":{},"f:lastHeartbeatTime":{},"f:lastTransitionTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}}}},"subresource":"status"}]},"spec":{"taints":[{"key":"node.kubernetes.io/not-ready","effect":"NoSchedule"}]},"status":{"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},"allocatable":{"cpu":"4","memory":"8Gi","pods":"110"},"conditions":[{"type":"Ready","status":"True","lastHeartbeatTime":"2026-12-05T13:44:37Z","lastTransitionTime":"2026-12-05T13:44:37Z","reason":"KubeletReady","message":"kubelet is posting ready status"}],"addresses":[{"type":"InternalIP","address":"198.51.100.51"},{"type":"Hostname","address":"node-a"}],"daemonEndpoints":{"kubeletEndpoint":{"Port":0}},"nodeInfo":{"machineID":"","systemUUID":"","bootID":"","kernelVersion":"","osImage":"","containerRuntimeVersion":"","kubeletVersion":"","kubeProxyVersion":"","operatingSystem":"","architecture":""}}},{"metadata":{"name":"node-b","uid":"5607fdf9-839b-4fc3-91a0-d115fd2b0f86","resourceVersion":"215","creationTimestamp":"2026-12-05T13:44:37Z","labels":{"kubernetes.io/arch":"amd64","kubernetes.io/hostname":"node-b","kubernetes.io/os":"linux","topology.kubernetes.io/zone":"zone-b"},"managedFields":[{"manager":"kubectl","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:unschedulable":{}}}},{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/arch":{},"f:kubernetes.io/hostname":{},"f:kubernetes.io/os":{},"f:topology.kubernetes.io/zone":{}}}}},{"manager":"kubectl-patch","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:addresses":{".":{},"k:{\\"type\\":\\"Hostname\\"}":{".":{},"f:address":{},"f:type":{}},"k:{\\"type\\":\\"InternalIP\\"}":{".":{},"f:address":{},"f:type":{}}},"f:allocatable":{".":{},"f:cpu":{},"f:memory":{},"f:pods":{}},"f:capacity":{".":{},"f:cpu":{},"f:memory":{},"f:pods":{}},"f:conditions":{".":{},"k:{\\"type\\":\\"Ready\\"}":{".":{},"f:lastHeartbeatTime":{},"f:lastTransitionTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}}}},"subresource":"status"}]},"spec":{"unschedulable":true,"taints":[{"key":"node.kubernetes.io/not-ready","effect":"NoSchedule"}]},"status":{"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},"allocatable":{"cpu":"4","memory":"8Gi","pods":"110"},"conditions":[{"type":"Ready","status":"True","lastHeartbeatTime":"2026-12-05T13:44:37Z","lastTransitionTime":"2026-12-05T13:44:37Z","reason":"KubeletReady","message":"kubelet is posting ready status"}],"addresses":[{"type":"InternalIP","address":"198.51.100.52"},{"type":"Hostname","address":"node-b"}],"daemonEndpoints":{"kubeletEndpoint":{"Port":0}},"nodeInfo":{"machineID":"","systemUUID":"","bootID":"","kernelVersion":"","osImage":"","containerRuntimeVersion":"","kubeletVersion":"","kubeProxyVersion":"","operatingSystem":"","architecture":""}}},{"metadata":{"name":"node-c","uid":"41632fbd-2c0b-48fa-b8d3-323c7ea29dfb","resourceVersion":"214","creationTimestamp":"2026-12-05T13:44:37Z","labels":{"kubernetes.io/arch":"amd64","kubernetes.io/hostname":"node-c","kubernetes.io/os":"linux","topology.kubernetes.io/zone":"zone-a"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/arch":{},"f:kubernetes.io/hostname":{},"f:kubernetes.io/os":{},"f:topology.kubernetes.io/zone":{}}}}},{"manager":"kubectl-patch","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:addresses":{".":{},"k:{\\"type\\":\\"Hostname\\"}":{".":{},"f:address":{},"f:type":{}},"k:{\\"type\\":\\"InternalIP\\"}":{".":{},"f:address":{},"f:type":{}}},"f:allocatable":{".":{},"f:cpu":{},"f:memory":{},"f:pods":{}},"f:capacity":{".":{},"f:cpu":{},"f:memory":{},"f:pods":{}},"f:conditions":{".":{},"k:{\\"type\\":\\"Ready\\"}":{".":{},"f:lastHeartbeatTime":{},"f:lastTransitionTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}}}},"subresource":"status"}]},"spec":{"taints":[{"key":"node.kubernetes.io/not-ready","effect":"NoSchedule"}]},"status":{"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},"allocatable":{"cpu":"4","memory":"8Gi","pods":"110"},"conditions":[{"type":"Ready","status":"False","lastHeartbeatTime":null,"lastTransitionTime":null,"reason":"KubeletNotReady","message":"container runtime network not ready"}],"addresses":[{"type":"InternalIP","address":"198.51.100.53"},{"type":"Hostname","address":"node-c"}],"daemonEndpoints":{"kubeletEndpoint":{"Port":0}},"nodeInfo":{"machineID":"","systemUUID":"","bootID":"","kernelVersion":"","osImage":"","containerRuntimeVersion":"","kubeletVersion":"","kubeProxyVersion":"","operatingSystem":"","architecture":""}}}]}\n',
  },
  "25": {
    request:
      "GET /api/v1/nodes?watch=1&resourceVersion=234&allowWatchBookmarks=true&timeoutSeconds=15 HTTP/1.1",
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
      '{"type":"MODIFIED","object":{"kind":"Node","apiVersion":"v1","metadata":{"name":"node-a","uid":"64af1a35-4b32-452b-b66b-2c99a92f57e3","resourceVersion":"237","creationTimestamp":"2026-12-05T13:44:37Z","labels":{"kubernetes.io/arch":"amd64","kubernetes.io/hostname":"node-a","kubernetes.io/os":"linux","topology.kubernetes.io/zone":"zone-a"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/arch":{},"f:kubernetes.io/hostname":{},"f:kubernetes.io/os":{},"f:topology.kubernetes.io/zone":{}}}}},{"manager":"kubectl-patch","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:58Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:addresses":{".":{},"k:{\\"type\\":\\"Hostname\\"}":{".":{},"f:address":{},"f:type":{}},"k:{\\"type\\":\\"InternalIP\\"}":{".":{},"f:address":{},"f:type":{}}},"f:allocatable":{".":{},"f:cpu":{},"f:memory":{},"f:pods":{}},"f:capacity":{".":{},"f:cpu":{},"f:memory":{},"f:pods":{}},"f:conditions":{".":{},"k:{\\"type\\":\\"Ready\\"}":{".":{},"f:lastHeartbeatTime":{},"f:lastTransitionTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}}}},"subresource":"status"}]},"spec":{"taints":[{"key":"node.kubernetes.io/not-ready","effect":"NoSchedule"}]},"status":{"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},"allocatable":{"cpu":"4","memory":"8Gi","pods":"110"},"conditions":[{"type":"Ready","status":"False","lastHeartbeatTime":"2026-12-05T13:44:58Z","lastTransitionTime":"2026-12-05T13:44:58Z","reason":"KubeletNotReady","message":"container runtime is down"}],"addresses":[{"type":"InternalIP","address":"198.51.100.51"},{"type":"Hostname","address":"node-a"}],"daemonEndpoints":{"kubeletEndpoint":{"Port":0}},"nodeInfo":{"machineID":"","systemUUID":"","bootID":"","kernelVersion":"","osImage":"","containerRuntimeVersion":"","kubeletVersion":"","kubeProxyVersion":"","operatingSystem":"","architecture":""}}}}\n{"type":"MODIFIED","object":{"kind":"Node","apiVersion":"v1","metadata":{"name":"node-b","uid":"5607fdf9-839b-4fc3-91a0-d115fd2b0f86","resourceVersion":"238","creationTimestamp":"2026-12-05T13:44:37Z","labels":{"kubernetes.io/arch":"amd64","kubernetes.io/hostname":"node-b","kubernetes.io/os":"linux","topology.kubernetes.io/zone":"zone-c"},"managedFields":[{"manager":"kubectl","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:unschedulable":{}}}},{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/arch":{},"f:kubernetes.io/hostname":{},"f:kubernetes.io/os":{}}}}},{"manager":"kubectl-patch","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:addresses":{".":{},"k:{\\"type\\":\\"Hostname\\"}":{".":{},"f:address":{},"f:type":{}},"k:{\\"type\\":\\"InternalIP\\"}":{".":{},"f:address":{},"f:type":{}}},"f:allocatable":{".":{},"f:cpu":{},"f:memory":{},"f:pods":{}},"f:capacity":{".":{},"f:cpu":{},"f:memory":{},"f:pods":{}},"f:conditions":{".":{},"k:{\\"type\\":\\"Ready\\"}":{".":{},"f:lastHeartbeatTime":{},"f:lastTransitionTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}}}},"subresource":"status"},{"manager":"kubectl-label","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:45:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{"f:topology.kubernetes.io/zone":{}}}}}]},"spec":{"unschedulable":true,"taints":[{"key":"node.kubernetes.io/not-ready","effect":"NoSchedule"}]},"status":{"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},"allocatable":{"cpu":"4","memory":"8Gi","pods":"110"},"conditions":[{"type":"Ready","status":"True","lastHeartbeatTime":"2026-12-05T13:44:37Z","lastTransitionTime":"2026-12-05T13:44:37Z","reason":"KubeletReady","message":"kubelet is posting ready status"}],"addresses":[{"type":"InternalIP","address":"198.51.100.52"},{"type":"Hostname","address":"node-b"}],"daemonEndpoints":{"kubeletEndpoint":{"Port":0}},"nodeInfo":{"machineID":"","systemUUID":"","bootID":"","kernelVersion":"","osImage":"","containerRuntimeVersion":"","kubeletVersion":"","kubeProxyVersion":"","operatingSystem":"","architecture":""}}}}\n{"type":"MODIFIED","object":{"kind":"Node","apiVersion":"v1","metadata":{"name":"node-c","uid":"41632fbd-2c0b-48fa-b8d3-323c7ea29dfb","resourceVersion":"239","creationTimestamp":"2026-12-05T13:44:37Z","labels":{"kubernetes.io/arch":"amd64","kubernetes.io/hostname":"node-c","kubernetes.io/os":"linux","topology.kubernetes.io/zone":"zone-a"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/arch":{},"f:kubernetes.io/hostname":{},"f:kubernetes.io/os":{},"f:topology.kubernetes.io/zone":{}}}}},{"manager":"kubectl-patch","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:addresses":{".":{},"k:{\\"type\\":\\"Hostname\\"}":{".":{},"f:address":{},"f:type":{}},"k:{\\"type\\":\\"InternalIP\\"}":{".":{},"f:address":{},"f:type":{}}},"f:allocatable":{".":{},"f:cpu":{},"f:memory":{},"f:pods":{}},"f:capacity":{".":{},"f:cpu":{},"f:memory":{},"f:pods":{}},"f:conditions":{".":{},"k:{\\"type\\":\\"Ready\\"}":{".":{},"f:lastHeartbeatTime":{},"f:lastTransitionTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}}}},"subresource":"status"},{"manager":"kubectl","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:45:02Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:unschedulable":{}}}}]},"spec":{"unschedulable":true,"taints":[{"key":"node.kubernetes.io/not-ready","effect":"NoSchedule"}]},"status":{"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},"allocatable":{"cpu":"4","memory":"8Gi","pods":"110"},"conditions":[{"type":"Ready","status":"False","lastHeartbeatTime":null,"lastTransitionTime":null,"reason":"KubeletNotReady","message":"container runtime network not ready"}],"addresses":[{"type":"InternalIP","address":"198.51.100.53"},{"type":"Hostname","address":"node-c"}],"daemonEndpoints":{"kubeletEndpoint":{"Port":0}},"nodeInfo":{"machineID":"","systemUUID":"","bootID":"","kernelVersion":"","osImage":"","containerRuntimeVersion":"","kubeletVersion":"","kubeProxyVersion":"","operatingSystem":"","architecture":""}}}}\n{"type":"DELETED","object":{"kind":"Node","apiVersion":"v1","metadata":{"name":"node-b","uid":"5607fdf9-839b-4fc3-91a0-d115fd2b0f86","resourceVersion":"240","creationTimestamp":"2026-12-05T13:44:37Z","labels":{"kubernetes.io/arch":"amd64","kubernetes.io/hostname":"node-b","kubernetes.io/os":"linux","topology.kubernetes.io/zone":"zone-c"},"managedFields":[{"manager":"kubectl","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:unschedulable":{}}}},{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/arch":{},"f:kubernetes.io/hostname":{},"f:kubernetes.io/os":{}}}}},{"manager":"kubectl-patch","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:addresses":{".":{},"k:{\\"type\\":\\"Hostname\\"}":{".":{},"f:address":{},"f:type":{}},"k:{\\"type\\":\\"InternalIP\\"}":{".":{},"f:address":{},"f:type":{}}},"f:allocatable":{".":{},"f:cpu":{},"f:memory":{},"f:pods":{}},"f:capacity":{".":{},"f:cpu":{},"f:memory":{},"f:pods":{}},"f:conditions":{".":{},"k:{\\"type\\":\\"Ready\\"}":{".":{},"f:lastHeartbeatTime":{},"f:lastTransitionTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}}}},"subresource":"status"},{"manager":"kubectl-label","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:45:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{"f:topology.kubernetes.io/zone":{}}}}}]},"spec":{"unschedulable":true,"taints":[{"key":"node.kubernetes.io/not-ready","effect":"NoSchedule"}]},"status":{"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},"allocatable":{"cpu":"4","memory":"8Gi","pods":"110"},"conditions":[{"type":"Ready","status":"True","lastHeartbeatTime":"2026-12-05T13:44:37Z","lastTransitionTime":"2026-12-05T13:44:37Z","reason":"KubeletReady","message":"kubelet is posting ready status"}],"addresses":[{"type":"InternalIP","address":"198.51.100.52"},{"type":"Hostname","address":"node-b"}],"daemonEndpoints":{"kubeletEndpoint":{"Port":0}},"nodeInfo":{"machineID":"","systemUUID":"","bootID":"","kernelVersion":"","osImage":"","containerRuntimeVersion":"","kubeletVersion":"","kubeProxyVersion":"","operatingSystem":"","architecture":""}}}}\n{"type":"BOOKMARK","object":{"kind":"Node","apiVersion":"v1","metadata":{"resourceVersion":"240","creationTimestamp":null},"spec":{},"status":{"daemonEndpoints":{"kubeletEndpoint":{"Port":0}},"nodeInfo":{"machineID":"","systemUUID":"","bootID":"","kernelVersion":"","osImage":"","containerRuntimeVersion":"","kubeletVersion":"","kubeProxyVersion":"","operatingSystem":"","architecture":""}}}}\n',
  },
  "26": {
    request: "GET /api/v1/namespaces/rec2/services HTTP/1.1",
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
      '{"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"242"},"items":[{"metadata":{"name":"cip","namespace":"rec2","uid":"0be687f5-21de-45c7-b28d-bcc298759948","resourceVersion":"224","creationTimestamp":"2026-12-05T13:44:38Z","managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:38Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:internalTrafficPolicy":{},"f:ports":{".":{},"k:{\\"port\\":80,\\"protocol\\":\\"TCP\\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:selector":{},"f:sessionAffinity":{},"f:type":{}}}}]},"spec":{"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080}],"selector":{"app":"cip"},"clusterIP":"10.0.0.17","clusterIPs":["10.0.0.17"],"type":"ClusterIP","sessionAffinity":"None","ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack","internalTrafficPolicy":"Cluster"},"status":{"loadBalancer":{}}},{"metadata":{"name":"lb","namespace":"rec2","uid":"ec50bd72-f9d9-44b6-9962-d0a5dd521e88","resourceVersion":"222","creationTimestamp":"2026-12-05T13:44:38Z","managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:38Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:allocateLoadBalancerNodePorts":{},"f:externalTrafficPolicy":{},"f:internalTrafficPolicy":{},"f:ports":{".":{},"k:{\\"port\\":443,\\"protocol\\":\\"TCP\\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:selector":{},"f:sessionAffinity":{},"f:type":{}}}}]},"spec":{"ports":[{"name":"https","protocol":"TCP","port":443,"targetPort":8443,"nodePort":30225}],"selector":{"app":"lb"},"clusterIP":"10.0.0.42","clusterIPs":["10.0.0.42"],"type":"LoadBalancer","sessionAffinity":"None","externalTrafficPolicy":"Local","healthCheckNodePort":30483,"ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack","allocateLoadBalancerNodePorts":true,"internalTrafficPolicy":"Cluster"},"status":{"loadBalancer":{}}},{"metadata":{"name":"np","namespace":"rec2","uid":"cac907c6-28f8-4984-98fe-81f4bffaa919","resourceVersion":"218","creationTimestamp":"2026-12-05T13:44:37Z","managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:externalTrafficPolicy":{},"f:internalTrafficPolicy":{},"f:ports":{".":{},"k:{\\"port\\":80,\\"protocol\\":\\"TCP\\"}":{".":{},"f:name":{},"f:nodePort":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:selector":{},"f:sessionAffinity":{},"f:type":{}}}}]},"spec":{"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080,"nodePort":30080}],"selector":{"app":"np"},"clusterIP":"10.0.0.195","clusterIPs":["10.0.0.195"],"type":"NodePort","sessionAffinity":"None","externalTrafficPolicy":"Cluster","ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack","internalTrafficPolicy":"Cluster"},"status":{"loadBalancer":{}}}]}\n',
  },
  "27": {
    request:
      "GET /api/v1/namespaces/rec2/services?watch=1&resourceVersion=242&allowWatchBookmarks=true&timeoutSeconds=15 HTTP/1.1",
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
      '{"type":"MODIFIED","object":{"kind":"Service","apiVersion":"v1","metadata":{"name":"lb","namespace":"rec2","uid":"ec50bd72-f9d9-44b6-9962-d0a5dd521e88","resourceVersion":"244","creationTimestamp":"2026-12-05T13:44:38Z","managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:38Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:allocateLoadBalancerNodePorts":{},"f:internalTrafficPolicy":{},"f:ports":{".":{},"k:{\\"port\\":443,\\"protocol\\":\\"TCP\\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:selector":{},"f:sessionAffinity":{},"f:type":{}}}},{"manager":"kubectl-patch","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:45:14Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:externalTrafficPolicy":{}}}}]},"spec":{"ports":[{"name":"https","protocol":"TCP","port":443,"targetPort":8443,"nodePort":30225}],"selector":{"app":"lb"},"clusterIP":"10.0.0.42","clusterIPs":["10.0.0.42"],"type":"LoadBalancer","sessionAffinity":"None","externalTrafficPolicy":"Cluster","ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack","allocateLoadBalancerNodePorts":true,"internalTrafficPolicy":"Cluster"},"status":{"loadBalancer":{}}}}\n{"type":"MODIFIED","object":{"kind":"Service","apiVersion":"v1","metadata":{"name":"np","namespace":"rec2","uid":"cac907c6-28f8-4984-98fe-81f4bffaa919","resourceVersion":"247","creationTimestamp":"2026-12-05T13:44:37Z","managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:externalTrafficPolicy":{},"f:internalTrafficPolicy":{},"f:ports":{".":{},"k:{\\"port\\":80,\\"protocol\\":\\"TCP\\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:selector":{},"f:sessionAffinity":{},"f:type":{}}}},{"manager":"kubectl-patch","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:45:16Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:ports":{"k:{\\"port\\":80,\\"protocol\\":\\"TCP\\"}":{"f:nodePort":{}}}}}}]},"spec":{"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080,"nodePort":30081}],"selector":{"app":"np"},"clusterIP":"10.0.0.195","clusterIPs":["10.0.0.195"],"type":"NodePort","sessionAffinity":"None","externalTrafficPolicy":"Cluster","ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack","internalTrafficPolicy":"Cluster"},"status":{"loadBalancer":{}}}}\n{"type":"MODIFIED","object":{"kind":"Service","apiVersion":"v1","metadata":{"name":"lb","namespace":"rec2","uid":"ec50bd72-f9d9-44b6-9962-d0a5dd521e88","resourceVersion":"251","creationTimestamp":"2026-12-05T13:44:38Z","managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:38Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:allocateLoadBalancerNodePorts":{},"f:internalTrafficPolicy":{},"f:ports":{".":{},"k:{\\"port\\":443,\\"protocol\\":\\"TCP\\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:selector":{},"f:sessionAffinity":{},"f:type":{}}}},{"manager":"kubectl-patch","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:45:18Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:externalTrafficPolicy":{}}}}]},"spec":{"ports":[{"name":"https","protocol":"TCP","port":443,"targetPort":8443,"nodePort":30225}],"selector":{"app":"lb"},"clusterIP":"10.0.0.42","clusterIPs":["10.0.0.42"],"type":"LoadBalancer","sessionAffinity":"None","externalTrafficPolicy":"Local","healthCheckNodePort":31305,"ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack","allocateLoadBalancerNodePorts":true,"internalTrafficPolicy":"Cluster"},"status":{"loadBalancer":{}}}}\n{"type":"MODIFIED","object":{"kind":"Service","apiVersion":"v1","metadata":{"name":"np","namespace":"rec2","uid":"cac907c6-28f8-4984-98fe-81f4bffaa919","resourceVersion":"253","creationTimestamp":"2026-12-05T13:44:37Z","managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:44:37Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:externalTrafficPolicy":{},"f:internalTrafficPolicy":{},"f:ports":{".":{},"k:{\\"port\\":80,\\"protocol\\":\\"TCP\\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:selector":{},"f:sessionAffinity":{}}}},{"manager":"kubectl-patch","operation":"Update","apiVersion":"v1","time":"2026-12-05T13:45:20Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:ports":{"k:{\\"port\\":80,\\"protocol\\":\\"TCP\\"}":{"f:nodePort":{}}},"f:type":{}}}}]},"spec":{"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080}],"selector":{"app":"np"},"clusterIP":"10.0.0.195","clusterIPs":["10.0.0.195"],"type":"ClusterIP","sessionAffinity":"None","ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack","internalTrafficPolicy":"Cluster"},"status":{"loadBalancer":{}}}}\n{"type":"BOOKMARK","object":{"kind":"Service","apiVersion":"v1","metadata":{"resourceVersion":"253","creationTimestamp":null},"spec":{},"status":{"loadBalancer":{}}}}\n{"type":"BOOKMARK","object":{"kind":"Service","apiVersion":"v1","metadata":{"resourceVersion":"253","creationTimestamp":null},"spec":{},"status":{"loadBalancer":{}}}}\n',
  },
  "28": {
    request:
      "GET /apis/discovery.k8s.io/v1/namespaces/rec2/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dnp HTTP/1.1",
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
      '{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{"resourceVersion":"255"},"items":[{"metadata":{"name":"np-1","namespace":"rec2","uid":"faa78254-f1ab-40c3-870b-98f5cc874465","resourceVersion":"225","generation":1,"creationTimestamp":"2026-12-05T13:44:38Z","labels":{"kubernetes.io/service-name":"np"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-12-05T13:44:38Z","fieldsType":"FieldsV1","fieldsV1":{"f:addressType":{},"f:endpoints":{},"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/service-name":{}}},"f:ports":{}}}]},"addressType":"IPv4","endpoints":[{"addresses":["192.0.2.31"],"conditions":{"ready":true},"nodeName":"node-a","zone":"zone-a"},{"addresses":["192.0.2.32"],"conditions":{"ready":false,"serving":true,"terminating":true},"nodeName":"node-b","zone":"zone-b"},{"addresses":["192.0.2.33"],"conditions":{"ready":false,"serving":false,"terminating":false},"nodeName":"node-c","zone":"zone-a"},{"addresses":["192.0.2.34"],"conditions":{}}],"ports":[{"name":"http","protocol":"TCP","port":8080}]},{"metadata":{"name":"np-2","namespace":"rec2","uid":"4408adc3-87b7-45a8-b66d-e27dc7cc4e0b","resourceVersion":"226","generation":1,"creationTimestamp":"2026-12-05T13:44:38Z","labels":{"kubernetes.io/service-name":"np"},"managedFields":[{"manager":"kubectl-create","operation":"Update","apiVersion":"discovery.k8s.io/v1","time":"2026-12-05T13:44:38Z","fieldsType":"FieldsV1","fieldsV1":{"f:addressType":{},"f:endpoints":{},"f:metadata":{"f:labels":{".":{},"f:kubernetes.io/service-name":{}}},"f:ports":{}}}]},"addressType":"IPv4","endpoints":[{"addresses":["192.0.2.35"],"conditions":{"ready":true,"serving":true,"terminating":false},"targetRef":{"kind":"Pod","namespace":"rec2","name":"np-6d4b9-x7k2p"},"nodeName":"node-c"}],"ports":[{"name":"http","protocol":"TCP","port":8080}]}]}\n',
  },
};

function node(name: string, zone: string): JsonObject {
  return {
    metadata: {
      name,
      labels: {
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "topology.kubernetes.io/zone": zone,
      },
    },
  };
}

/** The status-subresource patch recording 24 sent for a node (`ready`: node-a, node-b; not: node-c). */
export function recordedNodeStatus(name: string, address: string, ready: boolean): JsonObject {
  const condition: JsonObject = ready
    ? {
      type: "Ready",
      status: "True",
      reason: "KubeletReady",
      message: "kubelet is posting ready status",
      lastHeartbeatTime: "2026-12-05T13:44:37Z",
      lastTransitionTime: "2026-12-05T13:44:37Z",
    }
    : {
      type: "Ready",
      status: "False",
      reason: "KubeletNotReady",
      message: "container runtime network not ready",
    };
  return {
    status: {
      capacity: { cpu: "4", memory: "8192Mi", pods: "110" },
      conditions: [condition],
      addresses: [{ type: "InternalIP", address }, { type: "Hostname", address: name }],
    },
  };
}

/** The Nodes of recording 24 as `kubectl create` sent them (metadata only; status comes by patch). */
export const RECORDED_NODES: JsonObject[] = [
  node("node-a", "zone-a"),
  node("node-b", "zone-b"),
  node("node-c", "zone-a"),
];

/** The Services of recording 26 as `kubectl create` sent them. */
export const RECORDED_NODEPORT_SERVICES: JsonObject[] = [
  {
    metadata: { name: "cip", namespace: "rec2" },
    spec: { selector: { app: "cip" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
  },
  {
    metadata: { name: "lb", namespace: "rec2" },
    spec: {
      type: "LoadBalancer",
      externalTrafficPolicy: "Local",
      selector: { app: "lb" },
      ports: [{ name: "https", port: 443, targetPort: 8443 }],
    },
  },
  {
    metadata: { name: "np", namespace: "rec2" },
    spec: {
      type: "NodePort",
      externalTrafficPolicy: "Cluster",
      selector: { app: "np" },
      ports: [{ name: "http", port: 80, targetPort: 8080, nodePort: 30080 }],
    },
  },
];

/** The EndpointSlices of recording 28 as `kubectl create` sent them. */
export const RECORDED_NODEPORT_SLICES: JsonObject[] = [
  {
    metadata: { name: "np-1", namespace: "rec2", labels: { "kubernetes.io/service-name": "np" } },
    addressType: "IPv4",
    endpoints: [
      { addresses: ["192.0.2.31"], conditions: { ready: true }, nodeName: "node-a", zone: "zone-a" },
      {
        addresses: ["192.0.2.32"],
        conditions: { ready: false, serving: true, terminating: true },
        nodeName: "node-b",
        zone: "zone-b",
      },
      {
        addresses: ["192.0.2.33"],
        conditions: { ready: false, serving: false, terminating: false },
        nodeName: "node-c",
        zone: "zone-a",
      },
      { addresses: ["192.0.2.34"] },
    ],
    ports: [{ name: "http", port: 8080 }],
  },
  {
    metadata: { name: "np-2", namespace: "rec2", labels: { "kubernetes.io/service-name": "np" } },
    addressType: "IPv4",
    endpoints: [{
      addresses: ["192.0.2.35"],
      conditions: { ready: true, serving: true, terminating: false },
      targetRef: { kind: "Pod", namespace: "rec2", name: "np-6d4b9-x7k2p" },
      nodeName: "node-c",
    }],
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  },
];
