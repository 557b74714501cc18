-- Each endpoint's cluster (Endpoint.cluster_name), as GetNamespaces reports it with
-- every namespace (Hubble UI lists namespaces per cluster). Rows stored before this
-- migration have '' and are reported without their cluster.
ALTER TABLE {database}.flows ADD COLUMN src_cluster {string_lc}
;
ALTER TABLE {database}.flows ADD COLUMN dst_cluster {string_lc}
;
