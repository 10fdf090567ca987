//! The administration of groups: ListGroups, DescribeGroups and
//! DeleteGroups.
//!
//! Groups with committed offsets only (simple consumers', an
//! administrator's) are listed and described as Empty groups without a
//! protocol type, as Kafka's coordinator keeps them. A group nobody knows
//! is described as Dead, without an error, as Kafka describes it in these
//! versions.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    DeleteGroupsResponse, DescribeGroupsResponse, GroupId, ListGroupsResponse,
};
use seglog::offsets::coordinator::{GroupDescription, GroupState};
use seglog::store::LogStore;

use super::{group_error_code, text};
use crate::api::{Context, Outcome};
use crate::codec::{DecodeResult, Reader};
use crate::errors::code;

/// The operations on a group a client may make (Kafka's `AclOperation`
/// codes READ 3, DELETE 6, DESCRIBE 8, DESCRIBE_CONFIGS 10 and
/// ALTER_CONFIGS 11 as a bit field): all of them, as Kafka reports
/// without an authorizer.
pub const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11);

/// ListGroups' states filter (version 4 and later; empty for all).
fn decode_list(body: &mut Reader, v: i16) -> DecodeResult<Vec<String>> {
    let states = if v >= 4 {
        body.array(|r| r.string())?
    } else {
        Vec::new()
    };
    body.tagged_fields()?;
    body.finish()?;
    Ok(states)
}

/// ListGroups.
pub fn list_groups(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let v = ctx.version();
    let states = decode_list(body, v)?;
    let mut r = ListGroupsResponse::default();
    match ctx.shared.store.list_groups() {
        Ok(groups) => {
            r.groups = groups
                .into_iter()
                .filter(|g| {
                    states.is_empty()
                        || states
                            .iter()
                            .any(|s| s.eq_ignore_ascii_case(g.state.as_str()))
                })
                .map(|g| {
                    let mut out = ListedGroup::default();
                    out.group_id = GroupId(text(g.group_id));
                    out.protocol_type = text(g.protocol_type);
                    if v >= 4 {
                        out.group_state = text(g.state.as_str());
                    }
                    out
                })
                .collect();
        }
        Err(e) => r.error_code = group_error_code(&e),
    }
    Ok(ctx.respond(&r))
}

/// DescribeGroups' group ids, and whether authorized operations are asked
/// for (version 3 and later).
fn decode_describe(body: &mut Reader, v: i16) -> DecodeResult<(Vec<String>, bool)> {
    let groups = body.array(|r| r.string())?;
    let include_operations = if v >= 3 { body.bool()? } else { false };
    body.tagged_fields()?;
    body.finish()?;
    Ok((groups, include_operations))
}

/// DescribeGroups.
pub fn describe_groups(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let v = ctx.version();
    let (groups, include_operations) = decode_describe(body, v)?;
    let mut r = DescribeGroupsResponse::default();
    r.groups = groups
        .into_iter()
        .map(|id| {
            let found = describe(&ctx.shared.store, &id);
            let mut out = described(v, id, found);
            if v >= 3 && include_operations && out.error_code == code::NONE {
                out.authorized_operations = GROUP_OPERATIONS;
            }
            out
        })
        .collect();
    Ok(ctx.respond(&r))
}

/// The group as the coordinator has it; an Empty group without members
/// for one with committed offsets only; `None` for a group nobody knows.
fn describe(store: &LogStore, group: &str) -> Result<Option<GroupDescription>, i16> {
    let coordinator = store
        .group_coordinator()
        .map_err(|e| group_error_code(&e))?;
    if let Some(d) = coordinator
        .describe_group(group)
        .filter(|d| d.state != GroupState::Dead)
    {
        return Ok(Some(d));
    }
    // Kafka describes the empty group id (a group nobody can have).
    if group.is_empty() {
        return Ok(None);
    }
    Ok(store.describe_group(group).ok().map(|d| GroupDescription {
        group_id: d.group_id,
        state: d.state,
        protocol_type: d.protocol_type,
        protocol: None,
        generation: d.generation,
        leader: None,
        members: Vec::new(),
    }))
}

fn described(
    v: i16,
    group_id: String,
    found: Result<Option<GroupDescription>, i16>,
) -> DescribedGroup {
    let mut out = DescribedGroup::default();
    out.group_id = GroupId(text(group_id));
    match found {
        Err(error) => out.error_code = error,
        Ok(None) => out.group_state = text(GroupState::Dead.as_str()),
        Ok(Some(d)) => {
            out.group_state = text(d.state.as_str());
            out.protocol_type = text(d.protocol_type);
            out.protocol_data = text(d.protocol.unwrap_or_default());
            out.members = d
                .members
                .into_iter()
                .map(|m| {
                    let mut member = DescribedGroupMember::default();
                    member.member_id = text(m.member_id);
                    if v >= 4 {
                        member.group_instance_id = m.group_instance_id.map(text);
                    }
                    member.client_id = text(m.client_id);
                    member.client_host = text(m.client_host);
                    member.member_metadata = m.subscription.unwrap_or_default().into();
                    member.member_assignment = m.assignment.into();
                    member
                })
                .collect();
        }
    }
    out
}

fn decode_delete(body: &mut Reader) -> DecodeResult<Vec<String>> {
    let groups = body.array(|r| r.string())?;
    body.tagged_fields()?;
    body.finish()?;
    Ok(groups)
}

/// DeleteGroups: each group without members goes, with its committed
/// offsets.
pub fn delete_groups(ctx: &Context<'_>, body: &mut Reader) -> DecodeResult<Outcome> {
    let groups = decode_delete(body)?;
    let mut r = DeleteGroupsResponse::default();
    r.results = groups
        .into_iter()
        .map(|id| {
            let mut out = DeletableGroupResult::default();
            out.error_code = match ctx.shared.store.delete_group(&id) {
                Ok(()) => code::NONE,
                Err(e) => group_error_code(&e),
            };
            out.group_id = GroupId(text(id));
            out
        })
        .collect();
    Ok(ctx.respond(&r))
}

#[cfg(test)]
#[path = "admin_tests.rs"]
mod tests;
