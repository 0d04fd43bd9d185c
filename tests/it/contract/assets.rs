//! Assets: creation needs a template of the same institution; lists filter and page per
//! institution or per template.

use crate::support::{
    Tenant, after, asset, audit, first, ids, policy, sorted, template, template_of,
};
use escrowgrid::domain::InstitutionId;
use escrowgrid::domain::policy::PositionRules;
use escrowgrid::domain::{AssetId, Region, TemplateCode, TemplateId};
use escrowgrid::ports::{
    AssetFilter, AssetParent, AssetRules, AuditFilter, RepoError, Scope, Store, UniqueRule,
};
use std::sync::Arc;
use uuid::Uuid;

contract_cases!(
    created_asset_reads_back_equal_with_its_metadata,
    asset_of_a_missing_template_is_not_found_and_writes_nothing,
    asset_on_another_institutions_template_is_not_found,
    creating_an_existing_asset_id_is_duplicate,
    assets_by_ids_leave_out_missing_ids,
    asset_filters_match_institution_and_template,
    assets_by_parents_page_each_institution_or_template_and_key_every_id,
    asset_rules_bring_the_template_and_only_the_policy_of_its_region,
);

async fn created_asset_reads_back_equal_with_its_metadata(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let mut bare = asset(&tenant.template);
    bare.metadata = None;
    store
        .create_asset(&bare, &audit("createAsset", Some(tenant.id())))
        .await
        .expect("asset is created");

    let mut read = store
        .assets_by_ids(Scope::All, &[tenant.asset.id, bare.id])
        .await
        .expect("readable");
    read.sort_by_key(|a| a.id);

    assert_eq!(read, vec![tenant.asset, bare]);
}

async fn asset_of_a_missing_template_is_not_found_and_writes_nothing(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let mut orphan = asset(&tenant.template);
    orphan.template_id = TemplateId::new();
    let audits_before = store
        .count_audit(Scope::All, &AuditFilter::default())
        .await
        .expect("countable");

    let result = store
        .create_asset(&orphan, &audit("createAsset", Some(tenant.id())))
        .await;

    assert_eq!(result, Err(RepoError::NotFound { entity: "template" }));
    let read = store
        .assets_by_ids(Scope::All, &[orphan.id])
        .await
        .expect("readable");
    assert!(read.is_empty());
    assert_eq!(
        store.count_audit(Scope::All, &AuditFilter::default()).await,
        Ok(audits_before)
    );
}

async fn asset_on_another_institutions_template_is_not_found(store: Arc<dyn Store>) {
    let a = Tenant::seed(&store, "A").await;
    let b = Tenant::seed(&store, "B").await;
    let mut crossing = asset(&b.template);
    crossing.institution_id = a.id();

    let result = store
        .create_asset(&crossing, &audit("createAsset", Some(a.id())))
        .await;

    assert_eq!(result, Err(RepoError::NotFound { entity: "template" }));
    assert_eq!(
        store
            .count_assets(Scope::All, &AssetFilter::default())
            .await,
        Ok(2)
    );
}

async fn creating_an_existing_asset_id_is_duplicate(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;

    let result = store
        .create_asset(&tenant.asset, &audit("createAsset", Some(tenant.id())))
        .await;

    assert!(
        matches!(result, Err(RepoError::Duplicate(UniqueRule::AssetId))),
        "{result:?}"
    );
}

async fn assets_by_ids_leave_out_missing_ids(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;

    let read = store
        .assets_by_ids(Scope::All, &[AssetId::new(), tenant.asset.id])
        .await
        .expect("readable");

    assert_eq!(read, vec![tenant.asset]);
}

async fn asset_filters_match_institution_and_template(store: Arc<dyn Store>) {
    let a = Tenant::seed(&store, "A").await;
    let b = Tenant::seed(&store, "B").await;
    let second = asset(&a.template);
    store
        .create_asset(&second, &audit("createAsset", Some(a.id())))
        .await
        .expect("asset is created");
    let matching = async |filter: AssetFilter| {
        let page = store
            .list_assets(Scope::All, &filter, first(50))
            .await
            .expect("listable");
        let count = store
            .count_assets(Scope::All, &filter)
            .await
            .expect("countable");
        assert_eq!(
            count,
            page.items.len() as u64,
            "count agrees with {filter:?}"
        );
        ids(&page.items, |a| a.id)
    };

    assert_eq!(
        matching(AssetFilter::default()).await,
        sorted(vec![a.asset.id.0, b.asset.id.0, second.id.0])
    );
    assert_eq!(
        matching(AssetFilter {
            institution_id: Some(b.id()),
            template_id: None,
        })
        .await,
        vec![b.asset.id.0]
    );
    assert_eq!(
        matching(AssetFilter {
            institution_id: None,
            template_id: Some(a.template.id),
        })
        .await,
        sorted(vec![a.asset.id.0, second.id.0])
    );
    assert!(
        matching(AssetFilter {
            institution_id: Some(b.id()),
            template_id: Some(a.template.id),
        })
        .await
        .is_empty()
    );
}

async fn assets_by_parents_page_each_institution_or_template_and_key_every_id(
    store: Arc<dyn Store>,
) {
    let a = Tenant::seed(&store, "A").await;
    let b = Tenant::seed(&store, "B").await;
    let invoices = template_of(a.id(), TemplateCode::TfInvoice, Region::Us);
    store
        .create_template(&invoices, &audit("createAssetTemplate", Some(a.id())))
        .await
        .expect("template is created");
    let idle = template(a.id());
    store
        .create_template(&idle, &audit("createAssetTemplate", Some(a.id())))
        .await
        .expect("template is created");
    let mut a_assets = vec![a.asset.id.0];
    for _ in 0..2 {
        let extra = asset(&invoices);
        store
            .create_asset(&extra, &audit("createAsset", Some(a.id())))
            .await
            .expect("asset is created");
        a_assets.push(extra.id.0);
    }
    let a_assets = sorted(a_assets);
    let nobody = Uuid::now_v7();
    let all = AssetFilter::default();

    let by_institution = store
        .assets_by_parents(
            Scope::All,
            AssetParent::Institution,
            &[a.id().0, b.id().0, nobody],
            &all,
            first(2),
        )
        .await
        .expect("listable");
    assert_eq!(by_institution.len(), 3, "every requested id is a key");
    assert_eq!(
        ids(&by_institution[&a.id().0].items, |x| x.id),
        a_assets[..2]
    );
    assert!(by_institution[&a.id().0].has_next_page);
    assert_eq!(
        ids(&by_institution[&b.id().0].items, |x| x.id),
        vec![b.asset.id.0]
    );
    assert!(by_institution[&nobody].items.is_empty());

    let rest = store
        .assets_by_parents(
            Scope::All,
            AssetParent::Institution,
            &[a.id().0],
            &all,
            after(2, a_assets[1]),
        )
        .await
        .expect("listable");
    assert_eq!(ids(&rest[&a.id().0].items, |x| x.id), a_assets[2..]);
    assert!(!rest[&a.id().0].has_next_page);

    let by_template = store
        .assets_by_parents(
            Scope::All,
            AssetParent::Template,
            &[invoices.id.0, idle.id.0],
            &all,
            first(10),
        )
        .await
        .expect("listable");
    assert_eq!(by_template[&invoices.id.0].items.len(), 2);
    assert!(by_template[&idle.id.0].items.is_empty());

    let counts = store
        .count_assets_by_parents(
            Scope::All,
            AssetParent::Template,
            &[a.template.id.0, invoices.id.0, idle.id.0, nobody],
            &all,
        )
        .await
        .expect("countable");
    assert_eq!(counts.len(), 4, "every requested id is a key");
    assert_eq!(
        (
            counts[&a.template.id.0],
            counts[&invoices.id.0],
            counts[&idle.id.0],
            counts[&nobody]
        ),
        (1, 2, 0, 0)
    );
    let counts = store
        .count_assets_by_parents(
            Scope::All,
            AssetParent::Institution,
            &[a.id().0, b.id().0],
            &AssetFilter {
                institution_id: None,
                template_id: Some(invoices.id),
            },
        )
        .await
        .expect("countable");
    assert_eq!((counts[&a.id().0], counts[&b.id().0]), (2, 0));
}

async fn asset_rules_bring_the_template_and_only_the_policy_of_its_region(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;
    let other = Tenant::seed(&store, "B").await;
    let own = Scope::Institution(tenant.id());
    let rules = |policy| AssetRules {
        asset: tenant.asset.clone(),
        template: tenant.template.clone(),
        policy,
    };

    let read = store.asset_rules(own, tenant.asset.id).await.expect("read");
    assert_eq!(read, Some(rules(None)), "no policy yet");

    // A policy of another region, and one of another institution in the same region, are not
    // the asset's.
    let elsewhere = if tenant.template.region == Region::Us {
        Region::EuUk
    } else {
        Region::Us
    };
    for unrelated in [
        policy(tenant.id(), elsewhere, PositionRules::default()),
        policy(other.id(), tenant.template.region, PositionRules::default()),
    ] {
        store
            .upsert_policy(
                &unrelated,
                &audit("upsertPolicy", Some(unrelated.institution_id)),
            )
            .await
            .expect("policy stored");
    }
    let read = store.asset_rules(own, tenant.asset.id).await.expect("read");
    assert_eq!(read, Some(rules(None)));

    let mine = policy(
        tenant.id(),
        tenant.template.region,
        PositionRules::default(),
    );
    let stored = store
        .upsert_policy(&mine, &audit("upsertPolicy", Some(tenant.id())))
        .await
        .expect("policy stored");
    let read = store.asset_rules(own, tenant.asset.id).await.expect("read");
    assert_eq!(read, Some(rules(Some(stored.clone()))));
    let read = store
        .asset_rules(Scope::All, tenant.asset.id)
        .await
        .expect("read");
    assert_eq!(read, Some(rules(Some(stored))));

    for (scope, asset) in [
        (Scope::Institution(other.id()), tenant.asset.id),
        (Scope::Institution(InstitutionId::new()), tenant.asset.id),
        (own, AssetId::new()),
    ] {
        let read = store.asset_rules(scope, asset).await.expect("read");
        assert_eq!(read, None, "{scope:?} {asset:?}");
    }
}
