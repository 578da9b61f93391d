"""Run Debian cloud-init's own OpenStack and EC2 datasources against a metadata base URL and
print what they found as JSON. Usage: /usr/bin/python3 cloudinit_crawl.py BASE MAC [aws]

Only platform detection is bypassed (no DMI here); the crawl itself is cloud-init's code.
"""
import json
import sys
import tempfile

from cloudinit import distros, helpers
from cloudinit.sources import DataSourceEc2, DataSourceOpenStack
from cloudinit.sources.helpers import ec2, openstack

base, mac = sys.argv[1], sys.argv[2]
aws = len(sys.argv) > 3 and sys.argv[3] == "aws"
tmp = tempfile.mkdtemp()
paths = helpers.Paths({"cloud_dir": tmp + "/cloud", "run_dir": tmp + "/run"})
distro = distros.fetch("debian")("debian", {}, paths)
sys_cfg = {
    "datasource_list": ["OpenStack", "Ec2"],
    "datasource": {
        "OpenStack": {"metadata_urls": [base], "max_wait": 10, "timeout": 3, "retries": 1},
        "Ec2": {"metadata_urls": [base], "max_wait": 10, "timeout": 3, "strict_id": False},
    },
}

# 22.4.2 fetches the EC2 part of the OpenStack crawl from a hard-coded 169.254.169.254.
_orig_md = ec2.get_instance_metadata
def _md(*args, **kwargs):
    if len(args) < 2 and "metadata_address" not in kwargs:
        kwargs["metadata_address"] = base
    return _orig_md(*args, **kwargs)
ec2.get_instance_metadata = _md

out = {}
if not aws:
    DataSourceOpenStack.detect_openstack = lambda accept_oracle=False: True
    ds = DataSourceOpenStack.DataSourceOpenStack(sys_cfg, distro, paths)
    ok = ds.get_data()
    net = None
    if ok and ds.network_json:
        net = openstack.convert_net_json(ds.network_json, known_macs={mac: "eth0"})
    out["openstack"] = {
        "ok": bool(ok),
        "instance_id": ds.get_instance_id() if ok else None,
        "hostname": ds.metadata.get("local-hostname") if ok else None,
        "keys": ds.get_public_ssh_keys() if ok else None,
        "userdata": ds.userdata_raw.decode() if ok and isinstance(ds.userdata_raw, bytes) else (ds.userdata_raw if ok else None),
        "net": net,
        "ec2_instance_id": ds.ec2_metadata.get("instance-id") if ok and ds.ec2_metadata else None,
    }

DataSourceEc2.identify_platform = (
    (lambda: DataSourceEc2.CloudNames.AWS) if aws else (lambda: DataSourceEc2.CloudNames.UNKNOWN)
)
ds2 = DataSourceEc2.DataSourceEc2(sys_cfg, distro, paths)
ok2 = ds2.get_data()
out["ec2"] = {
    "ok": bool(ok2),
    "instance_id": ds2.get_instance_id() if ok2 else None,
    "hostname": ds2.metadata.get("local-hostname") if ok2 else None,
    "keys": ds2.get_public_ssh_keys() if ok2 else None,
    "userdata": ds2.userdata_raw.decode() if ok2 and isinstance(ds2.userdata_raw, bytes) else None,
    "local_ipv4": ds2.metadata.get("local-ipv4") if ok2 else None,
    "public_ipv4": ds2.metadata.get("public-ipv4") if ok2 else None,
}
print("RESULT " + json.dumps(out))
