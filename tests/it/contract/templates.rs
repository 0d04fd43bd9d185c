//! Asset templates: creation needs its institution; lists filter on every filter field and
//! page per institution.

use crate::support::{
    Tenant, after, audit, first, ids, institution, sorted, template, template_of,
};
use escrowgrid::domain::{InstitutionId, Region, TemplateCode, Vertical};
use escrowgrid::ports::{AuditFilter, RepoError, Scope, Store, TemplateFilter, UniqueRule};
use std::sync::Arc;

contract_cases!(
    created_template_reads_back_equal,
    template_of_a_missing_institution_is_not_found_and_writes_nothing,
    creating_an_existing_template_id_is_duplicate,
    template_filters_match_institution_vertical_region_and_code,
    templates_by_institutions_pages_each_institution_and_keys_every_id,
);

async fn created_template_reads_back_equal(store: Arc<dyn Store>) {
    let bank = institution("Bank");
    store
        .create_institution(&bank, &audit("createInstitution", Some(bank.id)))
        .await
        .expect("institution is created");
    let escrow = template(bank.id);
    store
        .create_template(&escrow, &audit("createAssetTemplate", Some(bank.id)))
        .await
        .expect("template is created");

    let read = store
        .templates_by_ids(Scope::All, &[escrow.id])
        .await
        .expect("readable");
    assert_eq!(read, vec![escrow.clone()]);
    assert_eq!(
        read[0]
            .config
            .document()
            .get("currency")
            .and_then(|v| v.as_str()),
        Some("USD")
    );
}

async fn template_of_a_missing_institution_is_not_found_and_writes_nothing(store: Arc<dyn Store>) {
    let orphan = template(InstitutionId::new());

    let result = store
        .create_template(&orphan, &audit("createAssetTemplate", None))
        .await;

    assert_eq!(
        result,
        Err(RepoError::NotFound {
            entity: "institution"
        })
    );
    let read = store
        .templates_by_ids(Scope::All, &[orphan.id])
        .await
        .expect("readable");
    assert!(read.is_empty());
    let audits = store
        .count_audit(Scope::All, &AuditFilter::default())
        .await
        .expect("countable");
    assert_eq!(audits, 0);
}

async fn creating_an_existing_template_id_is_duplicate(store: Arc<dyn Store>) {
    let tenant = Tenant::seed(&store, "A").await;

    let result = store
        .create_template(&tenant.template, &audit("createAssetTemplate", None))
        .await;

    assert!(
        matches!(result, Err(RepoError::Duplicate(UniqueRule::TemplateId))),
        "{result:?}"
    );
}

async fn template_filters_match_institution_vertical_region_and_code(store: Arc<dyn Store>) {
    let a = Tenant::seed(&store, "A").await;
    let b = Tenant::seed(&store, "B").await;
    let invoice = template_of(a.id(), TemplateCode::TfInvoice, Region::EuUk);
    let retainage = template_of(a.id(), TemplateCode::ConstrRetainage, Region::EuUk);
    for t in [&invoice, &retainage] {
        store
            .create_template(t, &audit("createAssetTemplate", Some(a.id())))
            .await
            .expect("template is created");
    }
    let matching = async |filter: TemplateFilter| {
        let page = store
            .list_templates(Scope::All, &filter, first(50))
            .await
            .expect("listable");
        let count = store
            .count_templates(Scope::All, &filter)
            .await
            .expect("countable");
        assert_eq!(
            count,
            page.items.len() as u64,
            "count agrees with {filter:?}"
        );
        ids(&page.items, |t| t.id)
    };

    assert_eq!(
        matching(TemplateFilter::default()).await,
        sorted(vec![
            a.template.id.0,
            b.template.id.0,
            invoice.id.0,
            retainage.id.0
        ])
    );
    assert_eq!(
        matching(TemplateFilter {
            institution_id: Some(a.id()),
            ..TemplateFilter::default()
        })
        .await,
        sorted(vec![a.template.id.0, invoice.id.0, retainage.id.0])
    );
    assert_eq!(
        matching(TemplateFilter {
            vertical: Some(Vertical::TradeFinance),
            ..TemplateFilter::default()
        })
        .await,
        vec![invoice.id.0]
    );
    assert_eq!(
        matching(TemplateFilter {
            region: Some(Region::EuUk),
            ..TemplateFilter::default()
        })
        .await,
        sorted(vec![invoice.id.0, retainage.id.0])
    );
    assert_eq!(
        matching(TemplateFilter {
            institution_id: Some(b.id()),
            code: Some(TemplateCode::ConstrEscrow),
            vertical: Some(Vertical::Construction),
            region: Some(Region::Us),
        })
        .await,
        vec![b.template.id.0]
    );
    assert!(
        matching(TemplateFilter {
            code: Some(TemplateCode::TfLc),
            ..TemplateFilter::default()
        })
        .await
        .is_empty()
    );
}

async fn templates_by_institutions_pages_each_institution_and_keys_every_id(store: Arc<dyn Store>) {
    let a = Tenant::seed(&store, "A").await;
    let b = Tenant::seed(&store, "B").await;
    let mut a_templates = vec![a.template.id.0];
    for code in [TemplateCode::TfLc, TemplateCode::TfInvoice] {
        let t = template_of(a.id(), code, Region::Us);
        store
            .create_template(&t, &audit("createAssetTemplate", Some(a.id())))
            .await
            .expect("template is created");
        a_templates.push(t.id.0);
    }
    let a_templates = sorted(a_templates);
    let nobody = InstitutionId::new();
    let requested = [a.id(), b.id(), nobody];
    let all = TemplateFilter::default();

    let pages = store
        .templates_by_institutions(Scope::All, &requested, &all, first(2))
        .await
        .expect("listable");
    assert_eq!(pages.len(), 3, "every requested id is a key");
    assert_eq!(ids(&pages[&a.id()].items, |t| t.id), a_templates[..2]);
    assert!(pages[&a.id()].has_next_page);
    assert_eq!(ids(&pages[&b.id()].items, |t| t.id), vec![b.template.id.0]);
    assert!(!pages[&b.id()].has_next_page);
    assert!(pages[&nobody].items.is_empty() && !pages[&nobody].has_next_page);

    let rest = store
        .templates_by_institutions(Scope::All, &[a.id()], &all, after(2, a_templates[1]))
        .await
        .expect("listable");
    assert_eq!(ids(&rest[&a.id()].items, |t| t.id), a_templates[2..]);
    assert!(!rest[&a.id()].has_next_page);

    let trade_finance = TemplateFilter {
        vertical: Some(Vertical::TradeFinance),
        ..TemplateFilter::default()
    };
    let counts = store
        .count_templates_by_institutions(Scope::All, &requested, &trade_finance)
        .await
        .expect("countable");
    assert_eq!(counts.len(), 3);
    assert_eq!(
        (counts[&a.id()], counts[&b.id()], counts[&nobody]),
        (2, 0, 0)
    );
    let counts = store
        .count_templates_by_institutions(Scope::All, &requested, &all)
        .await
        .expect("countable");
    assert_eq!(
        (counts[&a.id()], counts[&b.id()], counts[&nobody]),
        (3, 1, 0)
    );
}
