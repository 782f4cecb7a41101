package snmp

import "fmt"

// mibNode is one assignment of TANDEM-MIB.txt: name ::= { parent sub }.
type mibNode struct {
	name, parent string
	sub          uint32
}

// enterprise is where the module sits: the IANA documentation enterprise
// (RFC 5612), 1.3.6.1.4.1.32473, until a number is registered.
const enterprise = "1.3.6.1.4.1.32473"

// mibNodes lists every OID TANDEM-MIB.txt assigns, in the file's terms.
// The agent's tree and its notifications take their OIDs from here, and
// TestMIBFileMatches checks that the MIB file assigns the same.
var mibNodes = []mibNode{
	{"tandemMIB", "enterprises.32473", 1},
	{"tandemNotifications", "tandemMIB", 0},
	{"tandemObjects", "tandemMIB", 1},
	{"tandemConformance", "tandemMIB", 2},
	{"tandemCluster", "tandemObjects", 1},
	{"tandemContactCenter", "tandemObjects", 2},
	{"tandemReplication", "tandemObjects", 3},
	{"tandemAgent", "tandemObjects", 4},
	{"tandemNotifyObjects", "tandemObjects", 5},
	{"tandemBackup", "tandemObjects", 6},

	{"tandemNodeId", "tandemCluster", 1},
	{"tandemNodeRole", "tandemCluster", 2},
	{"tandemLeaderId", "tandemCluster", 3},
	{"tandemTerm", "tandemCluster", 4},
	{"tandemMemberCount", "tandemCluster", 5},
	{"tandemMembersUp", "tandemCluster", 6},
	{"tandemMemberTable", "tandemCluster", 7},
	{"tandemMemberEntry", "tandemMemberTable", 1},
	{"tandemMemberId", "tandemMemberEntry", 1},
	{"tandemMemberAddress", "tandemMemberEntry", 2},
	{"tandemMemberSuffrage", "tandemMemberEntry", 3},
	{"tandemMemberState", "tandemMemberEntry", 4},
	{"tandemMemberAdminAddress", "tandemMemberEntry", 5},
	{"tandemMemberIsLeader", "tandemMemberEntry", 6},
	{"tandemMemberClockSkew", "tandemMemberEntry", 7},
	{"tandemMemberLagging", "tandemMemberEntry", 8},
	{"tandemClockSkew", "tandemCluster", 8},
	{"tandemClockAlarm", "tandemCluster", 9},
	{"tandemReady", "tandemCluster", 10},

	{"tandemExtensionsConfigured", "tandemContactCenter", 1},
	{"tandemAgentsConfigured", "tandemContactCenter", 2},
	{"tandemAgentsLoggedIn", "tandemContactCenter", 3},
	{"tandemAgentsConnected", "tandemContactCenter", 4},
	{"tandemAgentsPaused", "tandemContactCenter", 5},
	{"tandemAgentsBusy", "tandemContactCenter", 6},
	{"tandemAgentsWrapUp", "tandemContactCenter", 7},
	{"tandemQueueCount", "tandemContactCenter", 8},
	{"tandemQueueTable", "tandemContactCenter", 9},
	{"tandemQueueEntry", "tandemQueueTable", 1},
	{"tandemQueueId", "tandemQueueEntry", 1},
	{"tandemQueueName", "tandemQueueEntry", 2},
	{"tandemQueueWaiting", "tandemQueueEntry", 3},
	{"tandemQueueLongestWait", "tandemQueueEntry", 4},
	{"tandemQueueAgentsServing", "tandemQueueEntry", 5},
	{"tandemExtensionsRegistered", "tandemContactCenter", 10},
	{"tandemExtensionsInUse", "tandemContactCenter", 11},
	{"tandemExtensionsOperationalPct", "tandemContactCenter", 12},
	{"tandemExtensionThreshold", "tandemContactCenter", 13},
	{"tandemContactTable", "tandemContactCenter", 14},
	{"tandemContactEntry", "tandemContactTable", 1},
	{"tandemContactMedium", "tandemContactEntry", 1},
	{"tandemContactCounted", "tandemContactEntry", 2},
	{"tandemContactsCurrent", "tandemContactEntry", 3},
	{"tandemContactsLastHour", "tandemContactEntry", 4},
	{"tandemContactsLastDay", "tandemContactEntry", 5},
	{"tandemContactRequestsAccepted", "tandemContactEntry", 6},
	{"tandemContactRequestsRefused", "tandemContactEntry", 7},

	{"tandemBackupTable", "tandemBackup", 1},
	{"tandemBackupEntry", "tandemBackupTable", 1},
	{"tandemBackupLevel", "tandemBackupEntry", 1},
	{"tandemBackupLastTime", "tandemBackupEntry", 2},
	{"tandemBackupLastResult", "tandemBackupEntry", 3},
	{"tandemBackupLastError", "tandemBackupEntry", 4},

	{"tandemReplBufferPercent", "tandemReplication", 1},
	{"tandemReplAlarmLevel", "tandemReplication", 2},
	{"tandemReplTargetTable", "tandemReplication", 3},
	{"tandemReplTargetEntry", "tandemReplTargetTable", 1},
	{"tandemReplTargetType", "tandemReplTargetEntry", 1},
	{"tandemReplTargetState", "tandemReplTargetEntry", 2},
	{"tandemReplTargetBufferPercent", "tandemReplTargetEntry", 3},
	{"tandemReplTargetBacklog", "tandemReplTargetEntry", 4},
	{"tandemReplTargetLastError", "tandemReplTargetEntry", 5},
	{"tandemReplTargetReason", "tandemReplTargetEntry", 6},
	{"tandemReplTargetNeedsSync", "tandemReplTargetEntry", 7},

	{"tandemSnmpPackets", "tandemAgent", 1},
	{"tandemSnmpRequests", "tandemAgent", 2},
	{"tandemSnmpDropsMalformed", "tandemAgent", 3},
	{"tandemSnmpDropsHost", "tandemAgent", 4},
	{"tandemSnmpDropsCommunity", "tandemAgent", 5},
	{"tandemSnmpDropsVersion", "tandemAgent", 6},
	{"tandemSnmpDropsPdu", "tandemAgent", 7},
	{"tandemSnmpTrapsSent", "tandemAgent", 8},
	{"tandemSnmpTrapsFailed", "tandemAgent", 9},
	{"tandemSnmpTrapProfile", "tandemAgent", 10},
	{"tandemSnmpDropsUnknownEngineId", "tandemAgent", 11},
	{"tandemSnmpDropsUnknownUser", "tandemAgent", 12},
	{"tandemSnmpDropsUnsupportedSecLevel", "tandemAgent", 13},
	{"tandemSnmpDropsWrongDigest", "tandemAgent", 14},
	{"tandemSnmpDropsNotInTimeWindow", "tandemAgent", 15},
	{"tandemSnmpDropsDecryption", "tandemAgent", 16},
	{"tandemSnmpDropsUnknownContext", "tandemAgent", 17},
	{"tandemSnmpReports", "tandemAgent", 18},
	{"tandemSnmpEngineId", "tandemAgent", 19},
	{"tandemSnmpEngineBoots", "tandemAgent", 20},
	{"tandemSnmpEngineTime", "tandemAgent", 21},

	{"tandemNotifyPreviousLeader", "tandemNotifyObjects", 1},
	{"tandemNotifyMessage", "tandemNotifyObjects", 2},
	{"tandemNotifyPreviousState", "tandemNotifyObjects", 3},
	{"tandemNotifyStore", "tandemNotifyObjects", 4},
	{"tandemNotifyPath", "tandemNotifyObjects", 5},
	{"tandemNotifyServer", "tandemNotifyObjects", 6},

	{"tandemLeaderChange", "tandemNotifications", 1},
	{"tandemNodeLost", "tandemNotifications", 2},
	{"tandemNodeBack", "tandemNotifications", 3},
	{"tandemReplBufferThreshold", "tandemNotifications", 4},
	{"tandemReplAutoStopped", "tandemNotifications", 5},
	{"tandemReplStateChanged", "tandemNotifications", 6},
	{"tandemNoSpace", "tandemNotifications", 7},
	{"tandemClockSkewAlarm", "tandemNotifications", 8},
	{"tandemBackupFailed", "tandemNotifications", 9},
	{"tandemExtensionsBelowThreshold", "tandemNotifications", 10},
	{"tandemMailServerUnreachable", "tandemNotifications", 11},
	{"tandemReplicaDiverged", "tandemNotifications", 12},
	{"tandemReplicaLagging", "tandemNotifications", 13},
	{"tandemReplicaCaughtUp", "tandemNotifications", 14},

	{"tandemCompliances", "tandemConformance", 1},
	{"tandemGroups", "tandemConformance", 2},
	{"tandemCompliance", "tandemCompliances", 1},
	{"tandemClusterGroup", "tandemGroups", 1},
	{"tandemContactCenterGroup", "tandemGroups", 2},
	{"tandemReplicationGroup", "tandemGroups", 3},
	{"tandemAgentGroup", "tandemGroups", 4},
	{"tandemNotifyObjectsGroup", "tandemGroups", 5},
	{"tandemNotificationsGroup", "tandemGroups", 6},
	{"tandemBackupGroup", "tandemGroups", 7},
}

// mibOIDs resolves mibNodes to OIDs. It is computed once per Agent (no
// package state); an unknown parent is a programming error.
func mibOIDs() map[string]OID {
	out := map[string]OID{"enterprises.32473": mustOID(enterprise)}
	for _, n := range mibNodes {
		p, ok := out[n.parent]
		if !ok {
			panic(fmt.Sprintf("snmp: MIB node %s: parent %s not defined before it", n.name, n.parent))
		}
		out[n.name] = p.Append(n.sub)
	}
	return out
}
