; The double-fault rules (SDM vol. 3 §6.15, interrupt 8, tables 6-4 and
; 6-5) with paging: a second exception while delivering a first becomes
; #DF(0) when both are contributory, or the first is a page fault and the
; second contributory or a page fault; every other pair is handled
; serially, the second exception delivered as itself. Also #DF through a
; task gate when the handler's stack is not mapped, and the debug trap of
; a TSS with T set arriving after a task-gate delivery of a #GP or a #PF
; (§17.3.1.5).
%include "harness.inc"

PD        equ 0x10000
PT        equ 0x11000
P         equ 1
RW        equ 2
US        equ 4
UNMAPPED  equ 0x6000            ; a page left out of the page tables
IDT_COPY  equ 0x4000            ; relocated IDTs start below 0x5000
TSS_DF    equ 0x3100
SEL_TSS_DF equ 0x40
TSS_GP    equ 0x3200
SEL_TSS_GP equ 0x48
DF_STACK  equ 0x8000
GP_STACK  equ 0x7800
TSS_PF    equ 0x3300
SEL_TSS_PF equ 0x50
PF_STACK  equ 0x7400            ; above UNMAPPED (0x6000-0x6FFF)

; SET_PTE page, value: write the PTE of `page` (linear = physical) and
; flush the TLB by reloading CR3 (the 386 has no INVLPG).
%macro SET_PTE 2
    mov dword [PT + ((%1) >> 12) * 4], %2
    mov eax, cr3
    mov cr3, eax
%endmacro

; RELOCATE_IDT base: copy the IDT to `base` and load IDTR with it, so that
; the entries can straddle a mapped and an unmapped page.
%macro RELOCATE_IDT 1
    mov esi, IDT_BASE
    mov edi, %1
    mov ecx, 256 * 2
    rep movsd
    mov word [scratch], 256 * 8 - 1
    mov dword [scratch + 2], %1
    lidt [scratch]
%endmacro

; INIT_TSS32 base, selector, entry, esp, extra_eflags: a ring-0 32-bit
; task on the flat segments and the current page directory.
%macro INIT_TSS32 5
    mov edi, %1
    mov ecx, 104 / 4
    xor eax, eax
    rep stosd
    mov dword [%1 + 0x1C], PD                 ; CR3
    mov dword [%1 + 0x20], %3                 ; EIP
    mov dword [%1 + 0x24], 0x00000002         ; EFLAGS
    mov dword [%1 + 0x38], %4                 ; ESP
    mov dword [%1 + 0x4C], SEL_CODE32         ; CS
    mov dword [%1 + 0x50], SEL_DATA32         ; SS
    mov dword [%1 + 0x48], SEL_DATA32         ; ES
    mov dword [%1 + 0x54], SEL_DATA32         ; DS
    mov dword [%1 + 0x58], SEL_DATA32         ; FS
    mov dword [%1 + 0x5C], SEL_DATA32         ; GS
    mov word [%1 + 0x64], %5                  ; T flag (bit 0)
    mov word [%1 + 0x66], 104                 ; no I/O map
    mov dword [%1 + 4], STACK0_TOP            ; ESP0
    mov dword [%1 + 8], SEL_DATA32            ; SS0
    SET_DESC (%2) / 8, %1, 0x67, 0x89, 0x0
%endmacro

test_main:
    mov esi, s_hello
    call print

    ; Identity-map 0-4 MiB (user, writable) but for UNMAPPED.
    IDENTITY_PAGE_TABLE PT
    mov dword [PT + (UNMAPPED >> 12) * 4], 0
    mov edi, PD
    mov ecx, 1024
    xor eax, eax
    rep stosd
    mov dword [PD], PT | P | RW | US
    mov dword [TSS_BASE + 0x1C], PD          ; task switches back here reload CR3
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 1 << 31
    mov cr0, eax

    ; --- Page fault, then page fault: #DF ------------------------------
    ; IDT at 0x4FA0: entries 0-11 on page 0x4000, 12-255 on page 0x5000,
    ; which is unmapped. The #PF's own gate cannot be read.
    RELOCATE_IDT IDT_COPY + 0xFA0
    SET_PTE 0x5000, 0
    BEGIN_EXPECT
    mov eax, [UNMAPPED]
    END_EXPECT 8, 0, "#PF while reading the #PF gate: #DF(0)"
    SET_PTE 0x5000, 0x5000 | P | RW | US

    ; --- Contributory or benign, then page fault: serial ---------------
    ; IDT at 0x4F90: entries 0-13 on page 0x4000 (unmapped), 14-255 on
    ; page 0x5000. The fault's gate is unreadable; the #PF is delivered.
    RELOCATE_IDT IDT_COPY + 0xF90
    SET_PTE 0x4000, 0
    BEGIN_EXPECT
    xor ax, ax
    mov ss, ax
    END_EXPECT 14, 0, "#GP whose gate is not mapped: #PF, not #DF"
    mov eax, cr2
    cmp eax, IDT_COPY + 0xF90 + 13 * 8
    CHECK "CR2 holds the address of the #GP gate"
    BEGIN_EXPECT
    ud2
    END_EXPECT 14, 0, "#UD whose gate is not mapped: #PF"
    mov eax, cr2
    cmp eax, IDT_COPY + 0xF90 + 6 * 8
    CHECK "CR2 holds the address of the #UD gate"
    SET_PTE 0x4000, 0x4000 | P | RW | US
    lidt [idtr]

    ; --- Page fault, then contributory: #DF ----------------------------
    ; The #PF gate names a data segment: #GP(sel) during delivery.
    mov word [IDT_BASE + 14 * 8 + 2], SEL_DATA32
    BEGIN_EXPECT
    mov eax, [UNMAPPED]
    END_EXPECT 8, 0, "#PF whose gate names a data segment: #DF(0)"
    mov word [IDT_BASE + 14 * 8 + 2], SEL_CODE32

    ; --- Contributory, then contributory: #DF --------------------------
    and byte [IDT_BASE + 0 * 8 + 5], 0x7F
    BEGIN_EXPECT
    xor edx, edx
    xor ecx, ecx
    div ecx
    END_EXPECT 8, 0, "#DE with its gate not present (#NP): #DF(0)"
    or byte [IDT_BASE + 0 * 8 + 5], 0x80
    mov word [IDT_BASE + 13 * 8 + 2], SEL_DATA32
    BEGIN_EXPECT
    xor ax, ax
    mov ss, ax
    END_EXPECT 8, 0, "#GP whose gate names a data segment (#GP): #DF(0)"
    mov word [IDT_BASE + 13 * 8 + 2], SEL_CODE32

    ; --- Benign, then contributory: serial ------------------------------
    ; INT3 at CPL 3 through a DPL 0 gate.
    mov byte [IDT_BASE + 3 * 8 + 5], 0x8E
    BEGIN_EXPECT
    TO_RING3 r3_int3
    END_EXPECT 13, 3 * 8 + 2, "INT3 at CPL 3 through a DPL 0 gate: #GP(3*8+2), not #DF"
    mov byte [IDT_BASE + 3 * 8 + 5], 0xEE

    ; --- #DF through a task gate: the handler stack is not mapped --------
    ; A ring-3 #PF needs the ring-0 stack, which lies in UNMAPPED: the
    ; push page-faults, #PF + #PF = #DF, delivered to a task with its own
    ; mapped stack.
    INIT_TSS32 TSS_DF, SEL_TSS_DF, df_task, DF_STACK, 0
    SET_IDT_GATE 8, SEL_TSS_DF, 0, 0x85
    mov dword [TSS_BASE + 4], UNMAPPED + 0x1000 - 16
    BEGIN_EXPECT
    TO_RING3 r3_touch_unmapped
    END_EXPECT 8, 0, "#PF whose handler stack is not mapped: #DF(0) through a task gate"
    cmp dword [scratch + 4], DF_STACK - 4
    CHECK "the #DF error code is on the double-fault task's stack"
    cmp dword [scratch + 8], SEL_TSS
    CHECK "the double-fault task links back to the faulting task"
    mov dword [TSS_BASE + 4], STACK0_TOP
    call build_idt

    ; --- A task gate into a TSS with T set: #GP, then #DB --------------
    ; The switch completes (the #GP is delivered), then the debug trap
    ; of the new TSS is raised before its first instruction: a benign
    ; exception after a contributory one, handled serially.
    INIT_TSS32 TSS_GP, SEL_TSS_GP, gp_task, GP_STACK, 1
    SET_IDT_GATE 13, SEL_TSS_GP, 0, 0x85
    BEGIN_EXPECT
    mov ax, SEL_TSS
    mov ds, ax
    END_EXPECT 1, NO_FAULT, "#GP through a task gate to a TSS with T set: then #DB"
    cmp dword [frame], gp_task
    CHECK "#DB is raised before the new task's first instruction"
    mov eax, dr6
    and eax, 1 << 15
    cmp eax, 1 << 15
    CHECK "DR6.BT reports the task-switch trap"
    cmp dword [GP_STACK - 4], SEL_TSS
    CHECK "the #GP error code was pushed on the new task's stack"
    str ax
    cmp ax, SEL_TSS_GP
    CHECK "the #GP task is current"

    ; The same for a page fault, from the #GP task: #PF, then #DB.
    INIT_TSS32 TSS_PF, SEL_TSS_PF, pf_task, PF_STACK, 1
    SET_IDT_GATE 14, SEL_TSS_PF, 0, 0x85
    BEGIN_EXPECT
    mov eax, [UNMAPPED]
    END_EXPECT 1, NO_FAULT, "#PF through a task gate to a TSS with T set: then #DB"
    cmp dword [frame], pf_task
    CHECK "#DB is raised before the #PF task's first instruction"
    cmp dword [PF_STACK - 4], 0
    CHECK "the #PF error code (supervisor read, not present) is on its stack"
    mov eax, cr2
    cmp eax, UNMAPPED
    CHECK "CR2 holds the faulting address"
    ; Everything after this runs in the #PF task: finish here.
    jmp finish

; The double-fault task: record where the error code sits, pop it, point
; the interrupted task at the test's recovery code (ring 0, flat) and
; return to it.
df_task:
    mov [scratch + 4], esp
    pop eax
    mov [last_error], eax
    mov dword [last_vector], 8
    movzx eax, word [TSS_DF]
    mov [scratch + 8], eax
    mov eax, [recover_eip]
    mov [TSS_BASE + 0x20], eax
    mov eax, [recover_esp]
    mov [TSS_BASE + 0x38], eax
    mov dword [TSS_BASE + 0x24], 0x00000002
    mov dword [TSS_BASE + 0x4C], SEL_CODE32
    mov dword [TSS_BASE + 0x50], SEL_DATA32
    mov dword [TSS_BASE + 0x48], SEL_DATA32
    mov dword [TSS_BASE + 0x54], SEL_DATA32
    mov dword [TSS_BASE + 0x58], SEL_DATA32
    mov dword [TSS_BASE + 0x5C], SEL_DATA32
    iretd

gp_task:
pf_task:
    hlt                          ; never reached: #DB comes first

r3_int3:
    int3
    int 0x30

r3_touch_unmapped:
    mov eax, [UNMAPPED]
    int 0x30

s_hello: db "pm_double_fault: protected mode entered", 10, 0

%include "rom_end.inc"
