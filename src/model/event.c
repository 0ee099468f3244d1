#include <stddef.h>

#include "model/event.h"

static const struct event_type_info event_types[] = {
	{ EVT_PROCESS_CREATED, "Process Created", "process", MSG_EVENT, SEV_INFO, "process_details" },
	{ EVT_PROCESS_TERMINATED, "Process Terminated", "process", MSG_EVENT, SEV_INFO, "process_details" },
	{ EVT_THREAD_CREATED, "Thread Created", "thread", MSG_EVENT, SEV_INFO, "thread_details" },
	{ EVT_THREAD_TERMINATED, "Thread Terminated", "thread", MSG_EVENT, SEV_INFO, "thread_details" },
	{ EVT_FILE_OPENED, "File Opened", "file", MSG_EVENT, SEV_INFO, "file_details" },
	{ EVT_FILE_CREATED, "File Created", "file", MSG_EVENT, SEV_INFO, "file_details" },
	{ EVT_FILE_DELETED, "File Deleted", "file", MSG_EVENT, SEV_INFO, "file_details" },
	{ EVT_FILE_RENAMED, "File Renamed", "file", MSG_EVENT, SEV_INFO, "file_details" },
	{ EVT_FILE_TRUNCATED, "File Truncated", "file", MSG_EVENT, SEV_INFO, "file_details" },
	{ EVT_FILE_PERMISSIONS_CHANGED, "File Permissions Changed", "file", MSG_EVENT, SEV_INFO, "file_details" },
	{ EVT_FILE_OWNER_CHANGED, "File Owner Changed", "file", MSG_EVENT, SEV_INFO, "file_details" },
	{ EVT_FILE_LINK_CREATED, "File Link Created", "file", MSG_EVENT, SEV_INFO, "file_details" },
	{ EVT_FILE_SYMLINK_CREATED, "File Symlink Created", "file", MSG_EVENT, SEV_INFO, "file_details" },
	{ EVT_DIRECTORY_CREATED, "Directory Created", "file", MSG_EVENT, SEV_INFO, "file_details" },
	{ EVT_DIRECTORY_DELETED, "Directory Deleted", "file", MSG_EVENT, SEV_INFO, "file_details" },
	{ EVT_FILE_CONTENT_CHANGED, "File Descriptor File Content Change", "file", MSG_EVENT, SEV_MEDIUM, "file_details" },
	{ EVT_IDENTITY_CHANGED, "Identity Changed", "identity", MSG_EVENT, SEV_INFO, "identity_details" },
	{ EVT_IDENTITY_CHANGE_FAILED, "Identity Change Failed", "identity", MSG_EVENT, SEV_WARNING, "identity_details" },
	{ EVT_NET_BIND, "Network Bind", "network", MSG_EVENT, SEV_INFO, "network_details" },
	{ EVT_NET_LISTEN, "Network Listen", "network", MSG_EVENT, SEV_INFO, "network_details" },
	{ EVT_NET_CONNECT, "Network Connect", "network", MSG_EVENT, SEV_INFO, "network_details" },
	{ EVT_NET_ACCEPT, "Network Accept", "network", MSG_EVENT, SEV_INFO, "network_details" },
	{ EVT_NET_CONNECTION_CREATED, "Network Connection Created", "network", MSG_EVENT, SEV_INFO, "network_details" },
	{ EVT_NET_CONNECTION_TERMINATED, "Network Connection Terminated", "network", MSG_EVENT, SEV_INFO, "network_details" },
	{ EVT_NET_TCP_STATE_CHANGE, "TCP Network Connection State Change", "network", MSG_EVENT, SEV_INFO, "network_details" },
	{ EVT_DNS_QUERY, "DNS Query", "dns", MSG_EVENT, SEV_INFO, "dns_details" },
	{ EVT_DNS_ANSWER, "DNS Answer", "dns", MSG_EVENT, SEV_INFO, "dns_details" },
	{ EVT_MEM_EXEC_ANON_MAPPED, "New Executable Anonymous Memory Mapped", "memory", MSG_EVENT, SEV_MEDIUM, "memory_details" },
	{ EVT_MEM_EXEC_PERMISSION_ADDED, "Executable Permissions Added", "memory", MSG_EVENT, SEV_MEDIUM, "memory_details" },
	{ EVT_MEM_MEMFD_CREATED, "Memory File Created", "memory", MSG_EVENT, SEV_INFO, "memory_details" },
	{ EVT_MEM_FILELESS_EXEC, "Fileless Execution", "memory", MSG_EVENT, SEV_HIGH, "memory_details" },
	{ EVT_MEM_EXEC_PERMISSION_REMOVED, "Executable Permissions Removed", "memory", MSG_EVENT, SEV_INFO, "memory_details" },
	{ EVT_LIBRARY_LOADED, "Library Loaded", "library", MSG_EVENT, SEV_INFO, "library_details" },
	{ SYS_SERVICE_INIT_STARTED, "Service Initialization Started", "system", MSG_SYSTEM_ACTIVITY, SEV_INFO, "system_details" },
	{ SYS_SERVICE_INIT_SUCCESSFUL, "Service Initialization Successful", "system", MSG_SYSTEM_ACTIVITY, SEV_INFO, "system_details" },
	{ SYS_SERVICE_INIT_FAILED, "Service Initialization Failed", "system", MSG_SYSTEM_ACTIVITY, SEV_ERROR, "system_details" },
	{ SYS_SOURCE_SELECTED, "Source Selected", "system", MSG_SYSTEM_ACTIVITY, SEV_INFO, "system_details" },
	{ SYS_SERVICE_SHUTDOWN, "Service Gracefully Shutdown", "system", MSG_SYSTEM_ACTIVITY, SEV_INFO, "system_details" },
	{ SYS_EVENTS_DROPPED, "Events Dropped", "system", MSG_SYSTEM_ACTIVITY, SEV_WARNING, "system_details" },
	{ SYS_PROCESS_LIMIT_REACHED, "Process Limit Reached", "system", MSG_SYSTEM_ACTIVITY, SEV_MEDIUM, "system_details" },
	{ SYS_FEATURE_DEGRADED, "Feature Degraded", "system", MSG_SYSTEM_ACTIVITY, SEV_WARNING, "system_details" },
	{ SYS_CONFIG_RELOADED, "Configuration Reloaded", "system", MSG_SYSTEM_ACTIVITY, SEV_INFO, "system_details" },
	{ SYS_COLLECTOR_CONNECTED, "Collector Connected", "system", MSG_SYSTEM_ACTIVITY, SEV_INFO, "system_details" },
	{ SYS_COLLECTOR_DISCONNECTED, "Collector Disconnected", "system", MSG_SYSTEM_ACTIVITY, SEV_WARNING, "system_details" },
};

const struct event_type_info *event_type__info(enum event_type type)
{
	for (size_t i = 0; i < sizeof(event_types) / sizeof(event_types[0]); i++)
		if (event_types[i].type == type)
			return &event_types[i];
	return NULL;
}

const struct event_type_info *event_type__all(unsigned *count)
{
	*count = sizeof(event_types) / sizeof(event_types[0]);
	return event_types;
}

const char *msg_type_name(enum msg_type t)
{
	switch (t) {
	case MSG_EVENT: return "EVENT";
	case MSG_ALERT: return "ALERT";
	case MSG_SYSTEM_ACTIVITY: return "SYSTEM_ACTIVITY";
	}
	return "EVENT";
}

const char *severity_name(enum severity s)
{
	switch (s) {
	case SEV_INFO: return "INFO";
	case SEV_WARNING: return "WARNING";
	case SEV_ERROR: return "ERROR";
	case SEV_MEDIUM: return "MEDIUM";
	case SEV_HIGH: return "HIGH";
	case SEV_CRITICAL: return "CRITICAL";
	}
	return "INFO";
}

void event__kv_str(struct event *ev, const char *key, const char *val)
{
	if (ev->nkv >= EVENT_MAX_KV)
		return;
	ev->kv[ev->nkv].key = key;
	ev->kv[ev->nkv].str = val ? val : "";
	ev->kv[ev->nkv].num = 0;
	ev->nkv++;
}

void event__kv_num(struct event *ev, const char *key, int64_t val)
{
	if (ev->nkv >= EVENT_MAX_KV)
		return;
	ev->kv[ev->nkv].key = key;
	ev->kv[ev->nkv].str = NULL;
	ev->kv[ev->nkv].num = val;
	ev->nkv++;
}
